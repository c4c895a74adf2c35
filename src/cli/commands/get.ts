import type { Command } from 'commander';
import { keyString, type Kind, type Resource } from '../../api/resource';
import type { GatewaySpec, UpstreamSpec, VirtualServiceSpec } from '../../api/types';
import { nameKey } from '../../api/snapshot';
import { functionPlugins } from '../../translator/envoy/destinations';
import { proxyToJson, type Proxy } from '../../translator/gateway/proxy';
import type { FunctionDescription } from '../../translator/plugin';
import { PLUGINS } from '../../translator/plugins';
import { UserError } from '../errors';
import { withClusterTranslation, type ClusterReadOptions } from '../cluster';
import { addKubeOptions, addSluiceNamespaceOption } from '../kube-options';
import { translateDirectory, type OfflineResult } from '../offline';
import { parseFormat, printData, printTable } from '../output';

const KIND_ALIASES: Record<string, Kind | 'Proxy'> = {
  upstream: 'Upstream',
  upstreams: 'Upstream',
  us: 'Upstream',
  virtualservice: 'VirtualService',
  virtualservices: 'VirtualService',
  vs: 'VirtualService',
  gateway: 'Gateway',
  gateways: 'Gateway',
  gw: 'Gateway',
  routetable: 'RouteTable',
  routetables: 'RouteTable',
  rt: 'RouteTable',
  proxy: 'Proxy',
  proxies: 'Proxy',
  secret: 'Secret',
  secrets: 'Secret',
};

const REDACTED = '<redacted>';

/** Secrets are shown by name, type and keys; their values never leave the store through the CLI. */
function redact(resource: Resource): Resource {
  if (resource.kind !== 'Secret') return resource;
  return {
    ...resource,
    data: Object.fromEntries(Object.keys(resource.data ?? {}).map((key) => [key, REDACTED])),
  };
}

function withStatus(result: OfflineResult, resource: Resource): Resource {
  const report = result.reports.find(
    (row) =>
      keyString({ ...row, kind: row.kind as Kind }) ===
      keyString({ kind: resource.kind, ...resource.metadata }),
  );
  return report
    ? { ...resource, status: { state: report.state as 'Accepted', reasons: report.reasons } }
    : resource;
}

/** Adds the functions an upstream offers (hand-written and discovered) to what `get` shows. */
function withFunctions(result: OfflineResult, resource: Resource): Resource {
  const upstream = result.loaded.snapshot.upstreams.get(
    nameKey(resource.metadata.namespace, resource.metadata.name),
  );
  const ctx = { snapshot: result.loaded.snapshot, reports: result.translation.reports };
  const plugins = upstream ? functionPlugins(upstream, PLUGINS, ctx) : [];
  if (!upstream || !plugins.some((plugin) => plugin.describeFunctions)) return resource;
  const functions = plugins.flatMap((plugin) => plugin.describeFunctions?.(upstream, ctx) ?? []);
  return { ...resource, functions } as Resource;
}

function statusCell(resource: Resource): string {
  return resource.status?.state ?? 'Pending';
}

function upstreamRow(resource: Resource): string[] {
  const spec = (resource.spec ?? {}) as UpstreamSpec;
  const type = Object.keys(spec).find((key) => key !== 'connectTimeout') ?? '';
  let details = '';
  if (spec.static) details = spec.static.hosts.map((host) => `${host.address}:${host.port}`).join(', ');
  if (spec.kube)
    details = `${spec.kube.serviceName}.${spec.kube.serviceNamespace ?? resource.metadata.namespace}:${spec.kube.servicePort}`;
  if (spec.aws) details = spec.aws.region;
  const functions = (resource as Resource & { functions?: FunctionDescription[] }).functions;
  if (functions)
    details += `${details ? ', ' : ''}${functions.length} function${functions.length === 1 ? '' : 's'}`;
  return [resource.metadata.name, type, statusCell(resource), details];
}

function virtualServiceRow(resource: Resource): string[] {
  const spec = resource.spec as VirtualServiceSpec | undefined;
  return [
    resource.metadata.name,
    (spec?.virtualHost?.domains ?? ['*']).join(', '),
    spec?.sslConfig ? 'tls' : 'none',
    statusCell(resource),
    String(spec?.virtualHost?.routes?.length ?? 0),
  ];
}

function gatewayRow(resource: Resource): string[] {
  const spec = resource.spec as GatewaySpec | undefined;
  return [
    resource.metadata.name,
    `${spec?.bindAddress || '::'}:${spec?.bindPort}`,
    spec?.grpcProxyless ? 'grpc-proxyless' : spec?.ssl ? 'https' : 'http',
    (spec?.proxyNames ?? ['gateway-proxy']).join(', '),
    statusCell(resource),
  ];
}

function proxyRow(proxy: Proxy): string[] {
  const hosts = proxy.listeners.flatMap((listener) => listener.virtualHosts);
  return [
    proxy.key,
    proxy.listeners.map((listener) => listener.name).join(', '),
    String(hosts.length),
    String(hosts.reduce((sum, vh) => sum + vh.routes.length, 0)),
  ];
}

const TABLES: Partial<Record<Kind, { headers: string[]; row: (resource: Resource) => string[] }>> = {
  Upstream: { headers: ['UPSTREAM', 'TYPE', 'STATUS', 'DETAILS'], row: upstreamRow },
  VirtualService: {
    headers: ['VIRTUAL SERVICE', 'DOMAINS', 'SSL', 'STATUS', 'ROUTES'],
    row: virtualServiceRow,
  },
  Gateway: { headers: ['GATEWAY', 'BIND', 'TYPE', 'PROXIES', 'STATUS'], row: gatewayRow },
  RouteTable: {
    headers: ['ROUTE TABLE', 'STATUS', 'ROUTES'],
    row: (resource) => [
      resource.metadata.name,
      statusCell(resource),
      String((resource.spec as { routes?: unknown[] })?.routes?.length ?? 0),
    ],
  },
  Secret: {
    headers: ['SECRET', 'TYPE', 'KEYS'],
    row: (resource) => [
      resource.metadata.name,
      resource.type ?? '',
      Object.keys(resource.data ?? {}).join(', '),
    ],
  },
};

function printProxies(proxies: Proxy[], name: string | undefined, format: string): void {
  const chosen = name ? proxies.filter((proxy) => proxy.key === name || proxy.name === name) : proxies;
  if (name && chosen.length === 0)
    throw new UserError(`proxy ${name} not found; proxies are ${proxies.map((p) => p.key).join(', ')}`);
  if (format === 'table') printTable(['PROXY', 'LISTENERS', 'VIRTUAL HOSTS', 'ROUTES'], chosen.map(proxyRow));
  else printData(chosen.map(proxyToJson), format as 'json' | 'yaml');
}

interface GetOptions extends ClusterReadOptions {
  configDir: string;
  namespace?: string;
  output: string;
}

/** The translation `get` shows, and where it comes from (for messages). */
async function readResources(options: GetOptions): Promise<{ result: OfflineResult; source: string }> {
  if (!options.kube)
    return { result: await translateDirectory(options.configDir), source: options.configDir };
  return withClusterTranslation(options, async (result, { source }) => ({ result, source }));
}

export function registerGet(program: Command): void {
  const get = program
    .command('get')
    .description(
      'list upstreams, virtualservices, gateways, routetables, proxies or secrets (with their status)',
    )
    .argument('<kind>', 'upstreams | virtualservices | gateways | routetables | proxies | secrets')
    .argument('[name]', 'only this resource')
    .option('--config-dir <dir>', 'directory of YAML resources', process.env.SLUICE_CONFIG_DIR ?? '.');
  addSluiceNamespaceOption(
    addKubeOptions(get, 'read the resources in Kubernetes (one list of each kind) instead of a directory'),
  )
    .option('-n, --namespace <namespace>', 'only this namespace')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (kindArg: string, name: string | undefined, options: GetOptions) => {
      const kind = KIND_ALIASES[kindArg.toLowerCase()];
      if (!kind)
        throw new UserError(
          `unknown kind ${kindArg}; use one of upstreams, virtualservices, gateways, routetables, proxies, secrets`,
        );
      const format = parseFormat(options.output, ['table', 'json', 'yaml']);
      const { result, source } = await readResources(options);
      if (kind === 'Proxy') return printProxies(result.translation.proxies, name, format);
      const resources = [...result.loaded.documents.values()]
        .filter((resource) => resource.kind === kind)
        .filter((resource) => !options.namespace || resource.metadata.namespace === options.namespace)
        .filter((resource) => !name || resource.metadata.name === name)
        .map((resource) => redact(withStatus(result, resource)));
      if (name && resources.length === 0) {
        throw new UserError(
          `${kind} ${name} not found in ${source}${options.namespace ? ` (namespace ${options.namespace})` : ''}`,
        );
      }
      const shown =
        kind === 'Upstream' ? resources.map((resource) => withFunctions(result, resource)) : resources;
      const table = TABLES[kind];
      if (format === 'table' && table) {
        printTable(table.headers, shown.map(table.row));
        const functions = name
          ? (shown[0] as Resource & { functions?: FunctionDescription[] }).functions
          : undefined;
        if (functions?.length) {
          process.stdout.write('\n');
          printTable(
            ['FUNCTION', 'QUALIFIER', 'SOURCE', 'TARGET'],
            functions.map((fn) => [fn.name, fn.qualifier ?? '', fn.source, fn.target]),
          );
        }
      } else printData(name ? shown[0] : shown, format === 'table' ? 'yaml' : format);
    });
}
