import type { DiscoveredFunctions } from '../../../src/discovery/fds/discovered';
import { translateOnce } from '../../../src/control-plane/translate-once';
import type { Json } from '../../../src/translator/plugin';
import { validateMessage } from '../../../src/xds/pgv';
import { TYPE_URLS } from '../../../src/xds/type-urls';
import { contentsOf } from '../../helpers/translate-yaml';

const ACCOUNT = '123456789012';
const ARN = `arn:aws:lambda:us-east-2:${ACCOUNT}:function`;

const BASE = `
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: aws-creds, namespace: default}
type: aws
data: {accessKeyId: AKIAEXAMPLE, secretAccessKey: SECRETEXAMPLE, sessionToken: TOKEN}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: petstore, namespace: default}
spec: {static: {hosts: [{address: 10.0.0.12, port: 8080}]}}
`;

function upstream(aws: string): string {
  return `
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: aws-east, namespace: default}
spec: {aws: ${aws}}
`;
}

function routes(list: string): string {
  return `
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec: {virtualHost: {domains: ["*"], routes: ${list}}}
`;
}

function run(yaml: string, discovered: Array<Record<string, unknown>> = [], error?: string) {
  const found: DiscoveredFunctions = {
    discoverer: 'aws-lambda',
    functions: discovered,
    updatedAt: '2026-01-01T00:00:00Z',
    ...(error ? { error } : {}),
  };
  const { translation, snapshots } = translateOnce(contentsOf(yaml), new Map([['default/aws-east', found]]));
  const resources = (typeUrl: string) => [
    ...(translation.envoy.byProxy
      .get('default~gateway-proxy')
      ?.get(typeUrl as never)
      ?.values() ?? []),
  ];
  const routeList = ((resources(TYPE_URLS.route)[0]?.virtualHosts as Json[] | undefined)?.[0]?.routes ??
    []) as Json[];
  const report = (kind: string, name: string) =>
    translation.reports.get({ kind: kind as never, namespace: 'default', name });
  return { translation, snapshots, resources, routes: routeList, report };
}

const invokeConfigOf = (route: Json) =>
  (route.typedPerFilterConfig as Record<string, Json>)['envoy.filters.http.aws_lambda'].invokeConfig as Json;

describe('aws-lambda plugin', () => {
  const discovered = [
    { logicalName: 'hello-world', functionName: `${ARN}:hello-world` },
    { logicalName: 'hello-world:1', functionName: `${ARN}:hello-world`, qualifier: '1' },
    { logicalName: 'hello-world:2', functionName: `${ARN}:hello-world`, qualifier: '2' },
    { logicalName: 'hello-world:live', functionName: `${ARN}:hello-world`, qualifier: 'live' },
  ];

  it("routes by name, version and alias to complete ARNs, with the secret's credentials and the filter's host rewrite", () => {
    const result = run(
      BASE +
        upstream('{region: us-east-2, secretRef: {name: aws-creds}}') +
        routes(`[
          {matchers: [{prefix: /latest}], routeAction: {single: {upstream: {name: aws-east}, function: hello-world}}},
          {matchers: [{prefix: /lambda}], routeAction: {single: {upstream: {name: aws-east}, function: "hello-world:1"}}, options: {lambda: {payloadPassthrough: true, invocationMode: ASYNCHRONOUS}}},
          {matchers: [{prefix: /live}], routeAction: {single: {upstream: {name: aws-east}, function: "hello-world:live"}}}]`),
      discovered,
    );
    expect(result.report('VirtualService', 'vs')?.warnings).toEqual([]);
    expect(result.routes.map((route) => invokeConfigOf(route).arn)).toEqual([
      `${ARN}:hello-world`,
      `${ARN}:hello-world:1`,
      `${ARN}:hello-world:live`,
    ]);
    expect(result.routes[1]).toEqual({
      match: { prefix: '/lambda' },
      route: { cluster: 'aws-east_default' },
      typedPerFilterConfig: {
        'envoy.filters.http.aws_lambda': {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.PerRouteConfig',
          invokeConfig: {
            arn: `${ARN}:hello-world:1`,
            payloadPassthrough: true,
            invocationMode: 'ASYNCHRONOUS',
            hostRewrite: 'lambda.us-east-2.amazonaws.com',
            credentials: {
              accessKeyId: 'AKIAEXAMPLE',
              secretAccessKey: 'SECRETEXAMPLE',
              sessionToken: 'TOKEN',
            },
          },
        },
      },
    });
    for (const route of result.routes) {
      const { '@type': type, ...config } = (route.typedPerFilterConfig as Record<string, Json>)[
        'envoy.filters.http.aws_lambda'
      ];
      expect(type).toBe('type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.PerRouteConfig');
      expect(validateMessage('envoy.extensions.filters.http.aws_lambda.v3.PerRouteConfig', config)).toEqual(
        [],
      );
    }
  });

  it('makes a TLS cluster to the regional endpoint marked as a Lambda egress gateway, and disables the HCM filter by default', () => {
    const result = run(
      BASE +
        upstream('{region: us-east-2, caFile: /etc/ca.pem}') +
        routes('[{routeAction: {single: {upstream: {name: aws-east}, function: hello-world}}}]'),
      discovered,
    );
    const cluster = result.resources(TYPE_URLS.cluster).find((c) => c.name === 'aws-east_default');
    expect(cluster).toMatchObject({
      type: 'LOGICAL_DNS',
      metadata: { filterMetadata: { 'com.amazonaws.lambda': { egress_gateway: true } } },
      transportSocket: {
        typedConfig: {
          sni: 'lambda.us-east-2.amazonaws.com',
          commonTlsContext: { validationContext: { trustedCa: { filename: '/etc/ca.pem' } } },
        },
      },
      loadAssignment: {
        endpoints: [
          {
            lbEndpoints: [
              {
                endpoint: {
                  address: { socketAddress: { address: 'lambda.us-east-2.amazonaws.com', portValue: 443 } },
                },
              },
            ],
          },
        ],
      },
    });
    const hcm = ((result.resources(TYPE_URLS.listener)[0].filterChains as Json[])[0].filters as Json[])[0]
      .typedConfig as Json;
    expect(hcm.httpFilters).toEqual([
      {
        name: 'envoy.filters.http.aws_lambda',
        typedConfig: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.Config',
          arn: 'arn:aws:lambda:us-east-1:000000000000:function:sluice-disabled-placeholder',
        },
        disabled: true,
      },
      expect.objectContaining({ name: 'envoy.filters.http.router' }),
    ]);
    expect(invokeConfigOf(result.routes[0]).credentials).toBeUndefined();
  });

  it('honours an endpoint override (plain HTTP, custom port) for LocalStack-style endpoints', () => {
    const result = run(
      BASE +
        upstream(
          `{region: us-east-1, endpoint: "http://localhost:4566", accountId: "${ACCOUNT}", lambdaFunctions: [{functionName: echo}]}`,
        ) +
        routes('[{routeAction: {single: {upstream: {name: aws-east}, function: echo}}}]'),
    );
    const cluster = result.resources(TYPE_URLS.cluster).find((c) => c.name === 'aws-east_default') as Json;
    expect(cluster.transportSocket).toBeUndefined();
    expect(invokeConfigOf(result.routes[0])).toMatchObject({
      arn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:echo`,
      hostRewrite: 'localhost:4566',
    });
  });

  it('splits traffic between two qualifiers, and between a function and another upstream', () => {
    const result = run(
      BASE +
        upstream('{region: us-east-2}') +
        routes(`[
          {matchers: [{prefix: /canary}], routeAction: {multi: {destinations: [{weight: 90, destination: {upstream: {name: aws-east}, function: "hello-world:1"}}, {weight: 10, destination: {upstream: {name: aws-east}, function: "hello-world:2"}}]}}},
          {matchers: [{prefix: /mixed}], routeAction: {multi: {destinations: [{weight: 3, destination: {upstream: {name: petstore}}}, {weight: 1, destination: {upstream: {name: aws-east}, function: hello-world}}]}}}]`),
      discovered,
    );
    const canary = (result.routes[0].route as Json).weightedClusters as { clusters: Json[] };
    expect(canary.clusters.map((c) => [c.name, c.weight, invokeConfigOf(c).arn])).toEqual([
      ['aws-east_default', 90, `${ARN}:hello-world:1`],
      ['aws-east_default', 10, `${ARN}:hello-world:2`],
    ]);
    const mixed = (result.routes[1].route as Json).weightedClusters as { clusters: Json[] };
    expect(mixed.clusters[0]).toEqual({ name: 'petstore_default', weight: 3 });
    expect(invokeConfigOf(mixed.clusters[1]).arn).toBe(`${ARN}:hello-world`);
    expect(result.routes[1].typedPerFilterConfig).toBeUndefined();
  });

  it('keeps hand-written functions over discovered ones of the same name', () => {
    const result = run(
      BASE +
        upstream(
          `{region: us-east-2, lambdaFunctions: [{logicalName: "hello-world:1", functionName: "${ARN}:other", qualifier: "7"}]}`,
        ) +
        routes('[{routeAction: {single: {upstream: {name: aws-east}, function: "hello-world:1"}}}]'),
      discovered,
    );
    expect(invokeConfigOf(result.routes[0]).arn).toBe(`${ARN}:other:7`);
  });

  it('rejects only the routes it cannot serve, saying what to fix', () => {
    const result = run(
      BASE +
        upstream('{region: us-east-2, lambdaFunctions: [{functionName: by-name}]}') +
        routes(`[
          {matchers: [{prefix: /a}], routeAction: {single: {upstream: {name: aws-east}, function: nope}}},
          {matchers: [{prefix: /b}], routeAction: {single: {upstream: {name: aws-east}}}},
          {matchers: [{prefix: /c}], routeAction: {single: {upstream: {name: aws-east}, function: by-name}}},
          {matchers: [{prefix: /e}], routeAction: {single: {upstream: {name: petstore}}}}]`),
    );
    expect(result.report('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[0]: route rejected: upstream default/aws-east has no Lambda function "nope" (known: by-name)',
      'spec.virtualHost.routes[1]: route rejected: upstream default/aws-east is an AWS Lambda upstream: set function to NAME, NAME:VERSION or NAME:ALIAS',
      'spec.virtualHost.routes[2]: route rejected: upstream default/aws-east: cannot complete the ARN of "by-name": set spec.aws.accountId, or use a full ARN as functionName',
    ]);
    expect(result.routes[3]).toEqual({ match: { prefix: '/e' }, route: { cluster: 'petstore_default' } });
    const elsewhere = run(
      BASE +
        upstream(
          `{region: us-east-2, secretRef: {name: missing}, lambdaFunctions: [{functionName: "arn:aws:lambda:eu-west-1:${ACCOUNT}:function:far"}, {functionName: "${ARN}:near"}]}`,
        ) +
        routes(
          '[{routeAction: {single: {upstream: {name: aws-east}, function: far}}}, {routeAction: {single: {upstream: {name: aws-east}, function: near}}}]',
        ),
    );
    expect(elsewhere.report('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[0]: route rejected: upstream default/aws-east: function "far" is in region eu-west-1, but the upstream is in us-east-2',
      'spec.virtualHost.routes[1]: route rejected: upstream default/aws-east: spec.aws.secretRef: Secret default/missing not found',
    ]);
    const withAccount = run(
      BASE +
        upstream(
          `{region: us-east-2, accountId: "${ACCOUNT}", secretRef: {name: aws-creds}, lambdaFunctions: [{functionName: by-name}]}`,
        ) +
        routes('[{routeAction: {single: {upstream: {name: aws-east}, function: by-name}}}]'),
    );
    expect(invokeConfigOf(withAccount.routes[0]).arn).toBe(`${ARN}:by-name`);
    const badSecret = run(
      BASE.replace('sessionToken: TOKEN', '').replace('secretAccessKey: SECRETEXAMPLE, ', '') +
        upstream('{region: us-east-2, secretRef: {name: aws-creds}}') +
        routes('[{routeAction: {single: {upstream: {name: aws-east}, function: hello-world}}}]'),
      discovered,
    );
    expect(badSecret.report('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[0]: route rejected: upstream default/aws-east: spec.aws.secretRef: Secret default/aws-creds has no secretAccessKey in data',
    ]);
  });

  it('validates regions and account ids', () => {
    const result = run(BASE + upstream('{region: mars-north-1x, accountId: "12345"}'));
    expect(result.report('Upstream', 'aws-east')?.errors).toEqual([
      'spec.aws.region: invalid value (expected an AWS region such as us-east-2) (test.yaml:3)',
      'spec.aws.accountId: invalid value (expected a 12-digit AWS account id) (test.yaml:3)',
    ]);
  });

  it('warns on the upstream when discovery fails, and keeps routing to the last known functions', () => {
    const result = run(
      BASE +
        upstream('{region: us-east-2}') +
        routes('[{routeAction: {single: {upstream: {name: aws-east}, function: "hello-world:2"}}}]'),
      discovered,
      'AccessDeniedException: not allowed (HTTP 403)',
    );
    expect(result.report('Upstream', 'aws-east')?.warnings).toEqual([
      'function discovery failed: AccessDeniedException: not allowed (HTTP 403); serving the last known functions',
    ]);
    expect(invokeConfigOf(result.routes[0]).arn).toBe(`${ARN}:hello-world:2`);
  });
});
