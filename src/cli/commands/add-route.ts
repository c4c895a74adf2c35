import type { Command } from 'commander';
import { DEFAULT_NAMESPACE, type Resource } from '../../api/resource';
import type {
  HeaderMatcherSpec,
  MatcherSpec,
  RouteActionSpec,
  RouteSpec,
  VirtualServiceSpec,
} from '../../api/types';
import { UserError } from '../errors';
import { openStore } from '../offline';
import { newResource, writeResource } from '../write';

interface AddRouteOptions {
  pathPrefix?: string;
  pathExact?: string;
  pathRegex?: string;
  method?: string[];
  header?: string[];
  destName: string;
  destNamespace: string;
  function?: string;
  allFunctions?: boolean;
  prefixRewrite?: string;
  name: string;
  namespace: string;
  index: number;
  configDir: string;
  dryRun?: boolean;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function matcherOf(options: AddRouteOptions): MatcherSpec {
  const paths = [options.pathPrefix, options.pathExact, options.pathRegex].filter((p) => p !== undefined);
  if (paths.length !== 1)
    throw new UserError('give exactly one of --path-prefix, --path-exact, --path-regex');
  const matcher: MatcherSpec = {};
  if (options.pathPrefix !== undefined) matcher.prefix = options.pathPrefix;
  if (options.pathExact !== undefined) matcher.exact = options.pathExact;
  if (options.pathRegex !== undefined) matcher.regex = options.pathRegex;
  if (options.method?.length) matcher.methods = options.method.map((method) => method.toUpperCase());
  if (options.header?.length) {
    matcher.headers = options.header.map((text): HeaderMatcherSpec => {
      const at = text.indexOf('=');
      return at < 0 ? { name: text, present: true } : { name: text.slice(0, at), value: text.slice(at + 1) };
    });
  }
  return matcher;
}

/** --all-functions makes one route per function under the prefix, each rewriting the path itself. */
function checkAllFunctions(options: AddRouteOptions): void {
  if (!options.allFunctions) return;
  if (options.function !== undefined)
    throw new UserError('--all-functions routes every function of the upstream: drop --function');
  if (options.pathPrefix === undefined)
    throw new UserError(
      '--all-functions needs --path-prefix: each function is routed by its own path under that prefix',
    );
  if (options.prefixRewrite !== undefined)
    throw new UserError(
      '--all-functions: each function sets its upstream path itself: drop --prefix-rewrite',
    );
}

function routeActionOf(options: AddRouteOptions): RouteActionSpec {
  const upstream = { name: options.destName, namespace: options.destNamespace };
  if (options.allFunctions) return { functions: { upstream } };
  return { single: { upstream, ...(options.function ? { function: options.function } : {}) } };
}

async function findVirtualService(
  configDir: string,
  namespace: string,
  name: string,
): Promise<Resource | undefined> {
  const store = openStore(configDir);
  try {
    const contents = await store.load();
    return contents.resources
      .map((stored) => stored.resource)
      .find(
        (resource) =>
          resource.kind === 'VirtualService' &&
          resource.metadata.name === name &&
          (resource.metadata.namespace || DEFAULT_NAMESPACE) === namespace,
      );
  } finally {
    await store.close();
  }
}

/** glooctl's `add route`: the route goes first by default, and the VirtualService is created when missing. */
export function registerAddRoute(program: Command): void {
  const add = program.command('add').description('add a route to a virtual service');
  add
    .command('route')
    .description('add a route (creating the virtual service, domain "*", when it does not exist)')
    .option('--path-prefix <prefix>', 'match paths starting with this')
    .option('--path-exact <path>', 'match this path exactly')
    .option('--path-regex <regex>', 'match paths by RE2 regex')
    .option('--method <method>', 'match this HTTP method (repeat for several)', collect)
    .option('--header <name=value>', 'match a header value, or presence with just NAME (repeatable)', collect)
    .requiredOption('--dest-name <upstream>', 'the destination upstream')
    .option('--dest-namespace <namespace>', 'namespace of the destination upstream', DEFAULT_NAMESPACE)
    .option(
      '--function <name>',
      'a function of the upstream (Lambda NAME[:QUALIFIER], OpenAPI operationId, ...)',
    )
    .option(
      '--all-functions',
      'one route per function of the upstream (OpenAPI: its method and path) under --path-prefix, kept in sync with discovery',
    )
    .option('--prefix-rewrite <path>', 'rewrite the matched prefix to this')
    .option('--name <virtualservice>', 'the virtual service', 'default')
    .option('--namespace <namespace>', 'namespace of the virtual service', DEFAULT_NAMESPACE)
    .option('-x, --index <n>', 'position of the new route in the list', (value) => Number(value), 0)
    .option('--config-dir <dir>', 'directory of YAML resources', process.env.SLUICE_CONFIG_DIR ?? '.')
    .option('--dry-run', 'print the virtual service instead of writing it')
    .addHelpText(
      'after',
      `
Examples:
  sluice add route --path-prefix /lambda --dest-name aws-east --function hello-world:1
  sluice add route --path-prefix /petstore --dest-name petstore --all-functions`,
    )
    .action(async (options: AddRouteOptions) => {
      checkAllFunctions(options);
      const route: RouteSpec = {
        matchers: [matcherOf(options)],
        routeAction: routeActionOf(options),
        ...(options.prefixRewrite !== undefined ? { options: { prefixRewrite: options.prefixRewrite } } : {}),
      };
      const existing = await findVirtualService(options.configDir, options.namespace, options.name);
      const vs = existing
        ? structuredClone(existing)
        : newResource('VirtualService', options.name, options.namespace, {
            spec: { virtualHost: { domains: ['*'], routes: [] } },
          });
      const spec = vs.spec as unknown as VirtualServiceSpec;
      const routes = spec.virtualHost.routes ?? [];
      if (!Number.isInteger(options.index) || options.index < 0 || options.index > routes.length) {
        throw new UserError(`--index ${options.index}: must be between 0 and ${routes.length}`);
      }
      routes.splice(options.index, 0, route);
      spec.virtualHost.routes = routes;
      delete vs.status;
      await writeResource(vs, options, existing?.metadata.resourceVersion);
    });
}
