import type { Command } from 'commander';
import { GCP_SECRET_KEY, parseServiceAccountKey } from '../../api/gcp';
import type { GcpUpstreamSpec } from '../../api/types';
import { UserError } from '../errors';
import { newResource, writeResource } from '../write';
import { readFileOption, withCommon, type CommonOptions } from './create-common';

interface GcpUpstreamOptions extends CommonOptions {
  project: string;
  region?: string;
  secretName?: string;
  secretNamespace?: string;
  apiEndpoint?: string;
  authMode?: string;
  caFile?: string;
}

function gcpUpstream(options: GcpUpstreamOptions): GcpUpstreamSpec {
  const gcp: GcpUpstreamSpec = { project: options.project };
  if (options.region) gcp.region = options.region;
  if (options.secretName)
    gcp.secretRef = { name: options.secretName, namespace: options.secretNamespace ?? options.namespace };
  if (options.apiEndpoint) gcp.apiEndpoint = options.apiEndpoint;
  if (options.authMode) gcp.authMode = options.authMode as GcpUpstreamSpec['authMode'];
  if (options.caFile) gcp.caFile = options.caFile;
  return gcp;
}

/** `create upstream gcp` and `create secret gcp`. */
export function registerGcpCommands(upstream: Command, secret: Command): void {
  withCommon(upstream.command('gcp').description('Google Cloud Functions of one project'))
    .requiredOption('--project <id>', 'GCP project id')
    .option('--region <region>', 'a region such as us-central1 (default: - , every region)')
    .option(
      '--secret-name <name>',
      'Secret of type gcp with a service-account key (default: Application Default Credentials)',
    )
    .option('--secret-namespace <namespace>', 'namespace of the secret (default: --namespace)')
    .option('--api-endpoint <endpoint>', 'Cloud Functions API endpoint override: host[:port] or URL')
    .option(
      '--auth-mode <mode>',
      'sluice (default: Sluice mints identity tokens) or gcp_authn (Envoy on GCP fetches them)',
    )
    .option('--ca-file <file>', "CA bundle Envoy verifies the functions' certificates against")
    .action((options: GcpUpstreamOptions) =>
      writeResource(
        newResource('Upstream', options.name, options.namespace, { spec: { gcp: gcpUpstream(options) } }),
        options,
      ),
    );
  withCommon(secret.command('gcp').description('a service-account JSON key (never printed)'))
    .requiredOption('--service-account-file <file>', 'the JSON key file of a service account')
    .action((options: CommonOptions & { serviceAccountFile: string }) => {
      const text = readFileOption('--service-account-file', options.serviceAccountFile);
      const parsed = parseServiceAccountKey(text);
      if ('error' in parsed)
        throw new UserError(`--service-account-file ${options.serviceAccountFile}: the file ${parsed.error}`);
      return writeResource(
        newResource('Secret', options.name, options.namespace, {
          type: 'gcp',
          data: { [GCP_SECRET_KEY]: text },
        }),
        options,
      );
    });
}
