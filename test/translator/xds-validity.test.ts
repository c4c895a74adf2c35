import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { PACKAGE_ROOT } from '../../src/package-root';
import { decodeToJson } from '../../src/xds/proto-json';
import { messageNameOf } from '../../src/xds/type-urls';
import { checkBootstrap } from '../helpers/envoy-bootstrap';
import { translateYaml } from '../helpers/translate-yaml';
import { strictXdsProblems, xdsResourcesOf } from '../helpers/xds-strict';

/** A configuration that exercises every translator feature at once. */
const EVERYTHING =
  ['upstreams.yaml', 'virtualservice.yaml', 'routetable.yaml', 'openapi.yaml', 'grpc.yaml']
    .map((file) => fs.readFileSync(path.join(PACKAGE_ROOT, 'examples', file), 'utf8'))
    .join('\n---\n') +
  `
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: tls-h2, namespace: default}
spec: {connectTimeout: 1s, static: {hosts: [{address: api.example.com, port: 443}, {address: api2.example.com, port: 443, weight: 2}], useTls: true, http2: true, sni: api.example.com}}
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: http, namespace: default}
spec: {bindPort: 8080}
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: https, namespace: default}
spec: {bindAddress: 0.0.0.0, bindPort: 8443, ssl: true}
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: grpc, namespace: default}
spec: {bindPort: 8080, grpcProxyless: {}, proxyNames: [grpc-clients], virtualServices: [{name: grpc}]}
---
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: cert, namespace: default}
type: tls
data: {certChain: "-----BEGIN CERTIFICATE-----", privateKey: "-----BEGIN PRIVATE KEY-----"}
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: secure, namespace: default}
spec:
  sslConfig: {secretRef: {name: cert}, sniDomains: [secure.example]}
  virtualHost:
    domains: [secure.example]
    options: {cors: {allowOrigin: ["https://a.example"]}, retries: {numRetries: 1}, headerManipulation: {responseHeadersToAdd: [{header: {key: x-tls, value: "1"}}]}}
    routes:
    - matchers: [{pathTemplate: "/files/{path=**}", queryParameters: [{name: v, value: "1"}]}]
      routeAction: {single: {upstream: {name: tls-h2}}}
      options: {timeout: 0s, faults: {delay: {fixedDelay: 10ms, percentage: 0.5}}, hostRewrite: api.example.com}
    - matchers: [{prefix: /moved}]
      redirectAction: {pathRedirect: /new, responseCode: 302, stripQuery: true, portRedirect: 443}
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: grpc, namespace: default}
spec:
  virtualHost:
    domains: [greeter]
    routes:
    - matchers: [{pathTemplate: "/helloworld.Greeter/{method}", headers: [{name: x-canary, value: "true"}]}]
      routeAction: {multi: {destinations: [{weight: 3, destination: {upstream: {name: petstore}}}, {weight: 1, destination: {upstream: {name: petstore-v2}}}]}}
      options: {retries: {retryOn: "unavailable,cancelled", numRetries: 2}, timeout: 5s, faults: {abort: {httpStatus: 503, percentage: 1}}, cors: {allowOrigin: ["*"]}}
`;

describe('every xDS resource Sluice produces', () => {
  const result = translateYaml(EVERYTHING);
  const resources = xdsResourcesOf(result.snapshots);

  it('covers listeners, routes, clusters, endpoints and secrets for Envoy and gRPC clients', () => {
    expect(result.translation.reports.all().filter((report) => report.errors.length > 0)).toEqual([]);
    const kinds = new Set(resources.map((resource) => messageNameOf(resource.typeUrl)));
    expect([...kinds].sort()).toEqual([
      'envoy.config.cluster.v3.Cluster',
      'envoy.config.endpoint.v3.ClusterLoadAssignment',
      'envoy.config.listener.v3.Listener',
      'envoy.config.route.v3.RouteConfiguration',
      'envoy.extensions.transport_sockets.tls.v3.Secret',
    ]);
    expect(result.listeners('default~grpc-clients').map((listener) => listener.name)).toEqual(['greeter']);
    expect(resources.length).toBeGreaterThan(15);
  });

  it('decodes strictly, re-encodes to the same bytes, and meets the protoc-gen-validate rules', () => {
    expect(
      resources.map((resource) => ({ name: resource.name, problems: strictXdsProblems(resource) })),
    ).toEqual(resources.map((resource) => ({ name: resource.name, problems: [] })));
  });

  it('is what the translator meant: the decoded form equals the translated JSON, defaults aside', () => {
    const listener = resources.find((resource) => resource.name === 'listener-::-8080');
    expect(listener && decodeToJson(messageNameOf(listener.typeUrl), listener.bytes)).toEqual(listener?.json);
  });
});

describe('docs/envoy-bootstrap.yaml', () => {
  it('is a valid Envoy v3 bootstrap that points ADS at Sluice', () => {
    const bootstrap = parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'docs', 'envoy-bootstrap.yaml'), 'utf8'));
    const { decoded, violations, adsTargets } = checkBootstrap(bootstrap);
    expect(violations).toEqual([]);
    expect(adsTargets).toEqual(['127.0.0.1:9977']);
    expect(decoded).toMatchObject({
      node: { metadata: { role: 'default~gateway-proxy' } },
      dynamicResources: { adsConfig: { apiType: 'GRPC', transportApiVersion: 'V3' } },
    });
  });
});
