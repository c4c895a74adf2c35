import { discoveredFor, type ApiSnapshot } from '../../../api/snapshot';
import type { LambdaFunctionSpec, Upstream } from '../../../api/types';
import { parseLambdaArn } from '../../../api/aws';

/** A function's route name: its logicalName, else NAME or NAME:QUALIFIER (NAME without an ARN's prefix). */
export function logicalNameOf(fn: LambdaFunctionSpec): string {
  if (fn.logicalName) return fn.logicalName;
  const name = parseLambdaArn(fn.functionName)?.name ?? fn.functionName;
  return fn.qualifier ? `${name}:${fn.qualifier}` : name;
}

export type KnownLambdaFunction = LambdaFunctionSpec & { source: 'spec' | 'discovered' };

const tables = new WeakMap<Upstream, { discovered: unknown; table: Map<string, KnownLambdaFunction> }>();

/**
 * Hand-written functions first, then discovered ones: a discovered function never replaces a function a
 * user wrote under the same logical name. Built once per upstream and discovery result, not per route.
 */
export function lambdaFunctions(upstream: Upstream, snapshot: ApiSnapshot): Map<string, KnownLambdaFunction> {
  const discovered = discoveredFor(snapshot, upstream);
  const cached = tables.get(upstream);
  if (cached && cached.discovered === discovered) return cached.table;
  const table = new Map<string, KnownLambdaFunction>();
  for (const fn of upstream.spec?.aws?.lambdaFunctions ?? []) {
    const name = logicalNameOf(fn);
    if (!table.has(name)) table.set(name, { ...fn, source: 'spec' });
  }
  if (discovered?.discoverer === 'aws-lambda') {
    for (const fn of discovered.functions as unknown as LambdaFunctionSpec[]) {
      const name = logicalNameOf(fn);
      if (!table.has(name)) table.set(name, { ...fn, source: 'discovered' });
    }
  }
  tables.set(upstream, { discovered, table });
  return table;
}

/** The account id the upstream's functions live in: configured, else learnt from any discovered ARN. */
export function accountIdOf(upstream: Upstream, functions: Iterable<LambdaFunctionSpec>): string | undefined {
  if (upstream.spec?.aws?.accountId) return upstream.spec.aws.accountId;
  for (const fn of functions) {
    const arn = parseLambdaArn(fn.functionName);
    if (arn) return arn.accountId;
  }
  return undefined;
}
