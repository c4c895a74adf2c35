/**
 * TypeScript views of the API messages in protos/sluice/v1 (the protos are the source of truth and
 * validate every document before code sees it; these types only describe validated shapes).
 */
import type { Resource, ResourceRef } from './resource';

export interface HostSpec {
  address: string;
  port: number;
  weight?: number;
}

export interface RestParameterSpec {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  fixedValue?: string;
}

export interface RestFunctionSpec {
  name: string;
  method: string;
  path: string;
  basePath?: string;
  parameters?: RestParameterSpec[];
  requestContentType?: string;
}

export interface GrpcMethodSpec {
  name: string;
  streaming?: 'unary' | 'client-streaming' | 'server-streaming' | 'bidi-streaming';
  inputType?: string;
  outputType?: string;
}

export interface GrpcServiceSpec {
  /** Fully qualified, e.g. helloworld.Greeter. */
  name: string;
  methods?: GrpcMethodSpec[];
}

export interface ServiceSpec {
  rest?: { swaggerUrl?: string; functions?: RestFunctionSpec[] };
  /** `descriptors`: base64 FileDescriptorSet. */
  grpc?: { descriptors?: string; services?: GrpcServiceSpec[] };
}

export interface StaticUpstreamSpec {
  hosts: HostSpec[];
  useTls?: boolean;
  sni?: string;
  http2?: boolean;
  caFile?: string;
  serviceSpec?: ServiceSpec;
}

export interface KubeUpstreamSpec {
  serviceName: string;
  serviceNamespace?: string;
  servicePort: number;
  selector?: Record<string, string>;
  http2?: boolean;
  serviceSpec?: ServiceSpec;
}

export interface LambdaFunctionSpec {
  logicalName?: string;
  functionName: string;
  qualifier?: string;
}

export type InvocationMode = 'SYNCHRONOUS' | 'ASYNCHRONOUS';

export interface AwsUpstreamSpec {
  region: string;
  secretRef?: ResourceRef;
  endpoint?: string;
  lambdaFunctions?: LambdaFunctionSpec[];
  invocationMode?: InvocationMode;
  roleArn?: string;
  externalId?: string;
  accountId?: string;
  caFile?: string;
}

export interface GcpFunctionSpec {
  name: string;
  url?: string;
  state?: string;
  environment?: string;
  region?: string;
  allowUnauthenticated?: boolean;
  eventType?: string;
}

export interface GcpUpstreamSpec {
  project: string;
  region?: string;
  secretRef?: ResourceRef;
  apiEndpoint?: string;
  functions?: GcpFunctionSpec[];
  authMode?: 'sluice' | 'gcp_authn';
  caFile?: string;
}

export interface AzureFunctionSpec {
  functionName: string;
  functionAppName?: string;
  authLevel?: 'anonymous' | 'function' | 'admin';
  route?: string;
  hostName?: string;
  keySecretRef?: ResourceRef;
}

export interface AzureUpstreamSpec {
  subscriptionId: string;
  functionAppName?: string;
  resourceGroup?: string;
  secretRef?: ResourceRef;
  managementEndpoint?: string;
  authorityHost?: string;
  functions?: AzureFunctionSpec[];
  caFile?: string;
}

export interface UpstreamSpec {
  static?: StaticUpstreamSpec;
  kube?: KubeUpstreamSpec;
  aws?: AwsUpstreamSpec;
  gcp?: GcpUpstreamSpec;
  azure?: AzureUpstreamSpec;
  connectTimeout?: string;
  [upstreamType: string]: unknown;
}

export interface HeaderMatcherSpec {
  name: string;
  value?: string;
  regex?: boolean;
  present?: boolean;
  invertMatch?: boolean;
}

export type QueryParameterMatcherSpec = Omit<HeaderMatcherSpec, 'invertMatch'>;

export interface MatcherSpec {
  prefix?: string;
  exact?: string;
  regex?: string;
  pathTemplate?: string;
  methods?: string[];
  headers?: HeaderMatcherSpec[];
  queryParameters?: QueryParameterMatcherSpec[];
}

export interface DestinationSpec {
  upstream: ResourceRef;
  function?: string;
}

export interface RouteActionSpec {
  single?: DestinationSpec;
  multi?: { destinations: Array<{ weight?: number; destination: DestinationSpec }> };
  functions?: { upstream: ResourceRef };
}

export interface RedirectActionSpec {
  hostRedirect?: string;
  pathRedirect?: string;
  prefixRewrite?: string;
  responseCode?: number;
  httpsRedirect?: boolean;
  stripQuery?: boolean;
  portRedirect?: number;
}

export interface DirectResponseActionSpec {
  status: number;
  body?: string;
}

export interface DelegateActionSpec {
  ref?: ResourceRef;
  name?: string;
  namespace?: string;
}

export interface HeaderValueOptionSpec {
  header: { key: string; value?: string };
  append?: boolean;
}

export interface GrpcOptionsSpec {
  maxGrpcTimeout?: string;
  json?: { services?: string[] };
}

export interface RouteOptionsSpec {
  prefixRewrite?: string;
  timeout?: string;
  retries?: { retryOn?: string; numRetries?: number; perTryTimeout?: string };
  cors?: {
    allowOrigin?: string[];
    allowOriginRegex?: string[];
    allowMethods?: string[];
    allowHeaders?: string[];
    exposeHeaders?: string[];
    maxAge?: string;
    allowCredentials?: boolean;
  };
  headerManipulation?: {
    requestHeadersToAdd?: HeaderValueOptionSpec[];
    requestHeadersToRemove?: string[];
    responseHeadersToAdd?: HeaderValueOptionSpec[];
    responseHeadersToRemove?: string[];
  };
  faults?: {
    abort?: { percentage?: number; httpStatus: number };
    delay?: { percentage?: number; fixedDelay: string };
  };
  hostRewrite?: string;
  lambda?: { payloadPassthrough?: boolean; invocationMode?: InvocationMode };
  grpc?: GrpcOptionsSpec;
}

export interface RouteSpec {
  name?: string;
  matchers?: MatcherSpec[];
  routeAction?: RouteActionSpec;
  redirectAction?: RedirectActionSpec;
  directResponseAction?: DirectResponseActionSpec;
  delegateAction?: DelegateActionSpec;
  options?: RouteOptionsSpec;
}

export interface VirtualHostSpec {
  domains?: string[];
  routes?: RouteSpec[];
  options?: RouteOptionsSpec;
}

export interface SslConfigSpec {
  secretRef: ResourceRef;
  sniDomains?: string[];
}

export interface VirtualServiceSpec {
  virtualHost: VirtualHostSpec;
  sslConfig?: SslConfigSpec;
  displayName?: string;
}

export interface RouteTableSpec {
  routes?: RouteSpec[];
}

export interface GatewaySpec {
  bindAddress?: string;
  bindPort: number;
  ssl?: boolean;
  virtualServices?: ResourceRef[];
  virtualServiceSelector?: { labels?: Record<string, string>; namespaces?: string[] };
  proxyNames?: string[];
  grpcProxyless?: Record<string, never>;
}

export interface SettingsSpec {
  xdsAddress?: string;
  adminAddress?: string;
  xdsTls?: { certFile?: string; keyFile?: string; clientCaFile?: string; bindRoleToCertificate?: boolean };
  discovery?: {
    fdsMode?: 'whitelist' | 'blacklist' | 'disabled';
    pollIntervals?: { aws?: string; openapi?: string; grpc?: string; gcp?: string; azure?: string };
    openApiPaths?: string[];
  };
}

export type Upstream = Resource<UpstreamSpec>;
export type VirtualService = Resource<VirtualServiceSpec>;
export type RouteTable = Resource<RouteTableSpec>;
export type Gateway = Resource<GatewaySpec>;
export type Secret = Resource<never>;
export type Settings = Resource<SettingsSpec>;
