import type { Command } from 'commander';
import type { Resource } from '../../api/resource';
import type { HostSpec, KubeUpstreamSpec, StaticUpstreamSpec } from '../../api/types';
import { DISCOVERY_LABEL } from '../../discovery/fds/discoverer';
import { UserError } from '../errors';
import { newResource, writeResource } from '../write';
import { registerAzureCommands } from './create-azure';
import { collect, readFileOption, withCommon, type CommonOptions } from './create-common';
import { registerGcpCommands } from './create-gcp';

function parseHost(text: string): HostSpec {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  if (!match) throw new UserError(`--host ${text}: write ADDRESS:PORT, e.g. 10.0.0.12:8080`);
  return { address: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

interface ServiceOptions extends CommonOptions {
  swaggerUrl?: string;
}

function withServiceOptions(command: Command): Command {
  return withCommon(command).option(
    '--swagger-url <url>',
    'where the OpenAPI document is: an http(s) URL, or a path on the upstream such as /openapi.json (also enables function discovery for the upstream)',
  );
}

function checkSwaggerUrl(url: string): string {
  if (url.startsWith('/') || /^https?:\/\/[^/]/.test(url)) return url;
  throw new UserError(
    `--swagger-url ${url}: give an http(s) URL or a path on the upstream starting with /, e.g. /openapi.json`,
  );
}

/**
 * A static or kube upstream; with --swagger-url also labelled for discovery, since in the default
 * (whitelist) fdsMode the document would otherwise never be read.
 */
function serviceUpstream(
  options: ServiceOptions,
  type: 'static' | 'kube',
  service: StaticUpstreamSpec | KubeUpstreamSpec,
): Resource {
  if (options.swaggerUrl === undefined)
    return newResource('Upstream', options.name, options.namespace, { spec: { [type]: service } });
  const serviceSpec = { rest: { swaggerUrl: checkSwaggerUrl(options.swaggerUrl) } };
  return newResource('Upstream', options.name, options.namespace, {
    metadata: { name: options.name, namespace: options.namespace, labels: { [DISCOVERY_LABEL]: 'enabled' } },
    spec: { [type]: { ...service, serviceSpec } },
  });
}

export function registerCreate(program: Command): void {
  const create = program.command('create').description('create an upstream, secret or virtualservice');
  const upstream = create.command('upstream').description('create an upstream: static | kube | aws');
  withServiceOptions(upstream.command('static').description('fixed hosts'))
    .requiredOption('--host <address:port>', 'a host (repeat for several)', collect)
    .option('--use-tls', 'connect with TLS')
    .option('--sni <name>', 'SNI sent with TLS')
    .option('--http2', 'speak HTTP/2 to the upstream (gRPC)')
    .action(
      (options: ServiceOptions & { host: string[]; useTls?: boolean; sni?: string; http2?: boolean }) => {
        const service: StaticUpstreamSpec = {
          hosts: options.host.map(parseHost),
          ...(options.useTls ? { useTls: true } : {}),
          ...(options.sni ? { sni: options.sni } : {}),
          ...(options.http2 ? { http2: true } : {}),
        };
        return writeResource(serviceUpstream(options, 'static', service), options);
      },
    );
  withServiceOptions(upstream.command('kube').description('a Kubernetes Service port'))
    .requiredOption('--service-name <name>', 'the Service')
    .option('--service-namespace <namespace>', 'its namespace (default: --namespace)')
    .requiredOption('--service-port <port>', 'the Service port', Number)
    .action(
      (options: ServiceOptions & { serviceName: string; serviceNamespace?: string; servicePort: number }) => {
        const service: KubeUpstreamSpec = {
          serviceName: options.serviceName,
          serviceNamespace: options.serviceNamespace ?? options.namespace,
          servicePort: options.servicePort,
        };
        return writeResource(serviceUpstream(options, 'kube', service), options);
      },
    );
  withCommon(upstream.command('aws').description('AWS Lambda functions of one account and region'))
    .requiredOption('--region <region>', 'AWS region, e.g. us-east-2')
    .option(
      '--secret-name <name>',
      'Secret of type aws with the credentials (default: the AWS default credential chain)',
    )
    .option('--secret-namespace <namespace>', 'namespace of the secret (default: --namespace)')
    .option('--endpoint <url>', 'Lambda endpoint override, e.g. http://localhost:4566')
    .option('--account-id <id>', '12-digit account id, to complete ARNs of functions written by name')
    .option('--role-arn <arn>', 'role to assume for discovery')
    .option('--external-id <id>', 'external id for --role-arn')
    .option('--invocation-mode <mode>', 'SYNCHRONOUS or ASYNCHRONOUS')
    .action(
      (
        options: CommonOptions & {
          region: string;
          secretName?: string;
          secretNamespace?: string;
          endpoint?: string;
          accountId?: string;
          roleArn?: string;
          externalId?: string;
          invocationMode?: string;
        },
      ) => {
        const aws: Record<string, unknown> = { region: options.region };
        if (options.secretName)
          aws.secretRef = {
            name: options.secretName,
            namespace: options.secretNamespace ?? options.namespace,
          };
        if (options.endpoint) aws.endpoint = options.endpoint;
        if (options.accountId) aws.accountId = options.accountId;
        if (options.roleArn) aws.roleArn = options.roleArn;
        if (options.externalId) aws.externalId = options.externalId;
        if (options.invocationMode) aws.invocationMode = options.invocationMode.toUpperCase();
        return writeResource(
          newResource('Upstream', options.name, options.namespace, { spec: { aws } }),
          options,
        );
      },
    );

  const secret = create.command('secret').description('create a secret: tls | aws');
  withCommon(secret.command('tls').description('a certificate and key for TLS'))
    .requiredOption('--cert-file <file>', 'PEM certificate chain')
    .requiredOption('--key-file <file>', 'PEM private key')
    .option('--root-ca-file <file>', 'PEM CA bundle')
    .action((options: CommonOptions & { certFile: string; keyFile: string; rootCaFile?: string }) => {
      const data: Record<string, string> = {
        certChain: readFileOption('--cert-file', options.certFile),
        privateKey: readFileOption('--key-file', options.keyFile),
      };
      if (options.rootCaFile) data.rootCa = readFileOption('--root-ca-file', options.rootCaFile);
      return writeResource(
        newResource('Secret', options.name, options.namespace, { type: 'tls', data }),
        options,
      );
    });
  withCommon(
    secret
      .command('aws')
      .description(
        'AWS credentials (flags, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN)',
      ),
  )
    .option('--access-key-id <id>', 'access key id (default: $AWS_ACCESS_KEY_ID)')
    .option('--secret-access-key <key>', 'secret access key (default: $AWS_SECRET_ACCESS_KEY)')
    .option('--session-token <token>', 'session token (default: $AWS_SESSION_TOKEN)')
    .action(
      (
        options: CommonOptions & { accessKeyId?: string; secretAccessKey?: string; sessionToken?: string },
      ) => {
        const accessKeyId = options.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID;
        const secretAccessKey = options.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY;
        const sessionToken = options.sessionToken ?? process.env.AWS_SESSION_TOKEN;
        if (!accessKeyId || !secretAccessKey) {
          throw new UserError(
            'give --access-key-id and --secret-access-key (or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
          );
        }
        const data: Record<string, string> = {
          accessKeyId,
          secretAccessKey,
          ...(sessionToken ? { sessionToken } : {}),
        };
        return writeResource(
          newResource('Secret', options.name, options.namespace, { type: 'aws', data }),
          options,
        );
      },
    );
  registerGcpCommands(upstream, secret);
  registerAzureCommands(upstream, secret);

  withCommon(create.command('virtualservice').alias('vs').description('a virtual service with no routes'))
    .option('--domains <domains>', 'comma-separated domains', '*')
    .action((options: CommonOptions & { domains: string }) => {
      const spec = { virtualHost: { domains: options.domains.split(',').map((d) => d.trim()), routes: [] } };
      return writeResource(newResource('VirtualService', options.name, options.namespace, { spec }), options);
    });
}
