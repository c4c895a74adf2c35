import { awsLambdaDiscoverer } from './aws-lambda';
import { azureFunctionsDiscoverer } from './azure-functions';
import type { FunctionDiscoverer } from './discoverer';
import { gcpFunctionsDiscoverer } from './gcp-functions';
import { grpcReflectionDiscoverer } from './grpc-reflection';
import { openApiDiscoverer } from './openapi';

/** Every function discoverer. A new one is one folder plus one line here. */
export const DISCOVERERS: readonly FunctionDiscoverer[] = [
  awsLambdaDiscoverer,
  openApiDiscoverer,
  grpcReflectionDiscoverer,
  gcpFunctionsDiscoverer,
  azureFunctionsDiscoverer,
];
