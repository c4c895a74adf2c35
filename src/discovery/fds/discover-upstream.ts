import { SecretValues } from '../../admin/secret-values';
import { keyOf, keyString } from '../../api/resource';
import { nameKey, type ApiSnapshot } from '../../api/snapshot';
import type { Upstream } from '../../api/types';
import type { Logger } from '../../logger';
import type { DiscoveredFunctions } from './discovered';
import { isDiscoveryEnabled, type FunctionDiscoverer } from './discoverer';
import { DISCOVERERS } from './registry';
import { activeSettings } from '../../api/settings';
import { fdsModeOf } from './settings';

export interface DiscoveryTarget {
  id: string;
  upstream: Upstream;
  discoverer: FunctionDiscoverer;
}

/** The upstreams to discover now (and by whom), per Settings' fdsMode and the upstreams' labels. */
export function discoveryTargets(
  snapshot: ApiSnapshot,
  discoverers: readonly FunctionDiscoverer[] = DISCOVERERS,
): DiscoveryTarget[] {
  const fdsMode = fdsModeOf(activeSettings(snapshot));
  const targets: DiscoveryTarget[] = [];
  for (const upstream of snapshot.upstreams.values()) {
    for (const discoverer of discoverers) {
      if (isDiscoveryEnabled(upstream, discoverer, fdsMode)) {
        targets.push({
          id: nameKey(upstream.metadata.namespace, upstream.metadata.name),
          upstream,
          discoverer,
        });
      }
    }
  }
  return targets;
}

/**
 * Secret data that names an account rather than unlocking it: a message needs it to say what to fix (the
 * Azure tenant that does not exist, the client that may not list apps).
 */
const IDENTIFIER_KEYS: ReadonlySet<string> = new Set(['accessKeyId', 'tenantId', 'clientId']);

/**
 * A cloud API's error message with the secret values Sluice holds taken out: some quote the request they
 * refused (AWS quotes its canonical request, the session token included).
 */
function withoutSecretValues(message: string, snapshot: ApiSnapshot): string {
  const credentialsOnly = new Map(
    [...snapshot.secrets].map(([id, secret]) => [
      id,
      {
        ...secret,
        data: Object.fromEntries(
          Object.entries(secret.data ?? {}).filter(([key]) => !IDENTIFIER_KEYS.has(key)),
        ),
      },
    ]),
  );
  const secrets = new SecretValues();
  secrets.update({ ...snapshot, secrets: credentialsOnly });
  return secrets.redact(message);
}

/**
 * One discovery of one upstream. A failure keeps the last known functions and records the error, which
 * translation reports as a Warning on the upstream.
 */
export async function discoverTarget(
  target: DiscoveryTarget,
  snapshot: ApiSnapshot,
  previous: DiscoveredFunctions | undefined,
  logger: Logger,
  signal?: AbortSignal,
): Promise<DiscoveredFunctions> {
  try {
    const result = await target.discoverer.discover(target.upstream, { snapshot, logger, signal });
    return { discoverer: target.discoverer.name, ...result, updatedAt: new Date().toISOString() };
  } catch (error) {
    const message = withoutSecretValues((error as Error).message, snapshot);
    if (previous?.error !== message) {
      logger.warn(
        { upstream: keyString(keyOf(target.upstream)), discoverer: target.discoverer.name, err: message },
        'function discovery failed',
      );
    }
    const known = previous?.discoverer === target.discoverer.name ? previous : undefined;
    return {
      discoverer: target.discoverer.name,
      functions: known?.functions ?? [],
      ...(known?.descriptorSet ? { descriptorSet: known.descriptorSet } : {}),
      updatedAt: previous?.updatedAt ?? new Date(0).toISOString(),
      error: message,
    };
  }
}

/** Discovers every target once (bounded concurrency); used by `sluice discover` and `translate --discover`. */
export async function discoverAll(
  snapshot: ApiSnapshot,
  previous: ReadonlyMap<string, DiscoveredFunctions>,
  logger: Logger,
  concurrency = 4,
): Promise<Map<string, DiscoveredFunctions>> {
  const targets = discoveryTargets(snapshot);
  const results = new Map<string, DiscoveredFunctions>();
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const target = targets[next++];
      results.set(target.id, await discoverTarget(target, snapshot, previous.get(target.id), logger));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
  return new Map([...results].sort(([a], [b]) => a.localeCompare(b)));
}
