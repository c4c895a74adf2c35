import type { Command } from 'commander';
import { AZURE_SECRET_KEYS, type AzureCredentials } from '../../api/azure';
import { UserError } from '../errors';
import { newResource, writeResource } from '../write';
import { withCommon, type CommonOptions } from './create-common';

/** Where each secret value comes from when its flag is absent. */
const ENVIRONMENT: Record<keyof AzureCredentials, { flag: string; variable: string }> = {
  tenantId: { flag: '--tenant-id', variable: 'AZURE_TENANT_ID' },
  clientId: { flag: '--client-id', variable: 'AZURE_CLIENT_ID' },
  clientSecret: { flag: '--client-secret', variable: 'AZURE_CLIENT_SECRET' },
};

interface UpstreamOptions extends CommonOptions {
  subscriptionId: string;
  functionApp?: string;
  resourceGroup?: string;
  secretName?: string;
  secretNamespace?: string;
  managementEndpoint?: string;
  authorityHost?: string;
  caFile?: string;
}

function upstreamSpec(options: UpstreamOptions): Record<string, unknown> {
  const azure: Record<string, unknown> = { subscriptionId: options.subscriptionId };
  if (options.functionApp) azure.functionAppName = options.functionApp;
  if (options.resourceGroup) azure.resourceGroup = options.resourceGroup;
  if (options.secretName)
    azure.secretRef = { name: options.secretName, namespace: options.secretNamespace ?? options.namespace };
  if (options.managementEndpoint) azure.managementEndpoint = options.managementEndpoint;
  if (options.authorityHost) azure.authorityHost = options.authorityHost;
  if (options.caFile) azure.caFile = options.caFile;
  return { azure };
}

/** The service principal from the flags, else the environment; never printed. */
function credentials(options: Partial<AzureCredentials>): AzureCredentials {
  const values = Object.fromEntries(
    AZURE_SECRET_KEYS.map((key) => [key, options[key] || process.env[ENVIRONMENT[key].variable] || '']),
  ) as unknown as AzureCredentials;
  const missing = AZURE_SECRET_KEYS.filter((key) => !values[key]).map((key) => ENVIRONMENT[key]);
  if (missing.length) {
    throw new UserError(
      `give ${missing.map((source) => source.flag).join(', ')} (or set ${missing.map((source) => source.variable).join(', ')})`,
    );
  }
  return values;
}

/** `create upstream azure` and `create secret azure`. */
export function registerAzureCommands(upstream: Command, secret: Command): void {
  withCommon(
    upstream
      .command('azure')
      .description('Azure Functions of a subscription: one function app, or every app (of a resource group)'),
  )
    .requiredOption('--subscription-id <id>', 'Azure subscription id')
    .option(
      '--function-app <name>',
      'one function app (routes name its functions FUNCTION); default every app (routes name APP/FUNCTION)',
    )
    .option('--resource-group <name>', 'only the apps of this resource group')
    .option(
      '--secret-name <name>',
      'Secret of type azure with the service principal (default: the Azure SDK default credential chain)',
    )
    .option('--secret-namespace <namespace>', 'namespace of the secret (default: --namespace)')
    .option(
      '--management-endpoint <url>',
      'Azure Resource Manager endpoint (sovereign clouds), e.g. https://management.usgovcloudapi.net',
    )
    .option(
      '--authority-host <url>',
      'Microsoft Entra ID authority (sovereign clouds), e.g. https://login.microsoftonline.us',
    )
    .option('--ca-file <file>', "PEM bundle Envoy verifies the apps' certificates against")
    .action((options: UpstreamOptions) =>
      writeResource(
        newResource('Upstream', options.name, options.namespace, { spec: upstreamSpec(options) }),
        options,
      ),
    );
  withCommon(
    secret
      .command('azure')
      .description(
        'an Azure service principal (flags, else AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET)',
      ),
  )
    .option('--tenant-id <id>', 'Microsoft Entra tenant id (default: $AZURE_TENANT_ID)')
    .option('--client-id <id>', 'application (client) id (default: $AZURE_CLIENT_ID)')
    .option('--client-secret <secret>', 'client secret value (default: $AZURE_CLIENT_SECRET)')
    .action((options: CommonOptions & Partial<AzureCredentials>) => {
      const data = { ...credentials(options) };
      return writeResource(
        newResource('Secret', options.name, options.namespace, { type: 'azure', data }),
        options,
      );
    });
}
