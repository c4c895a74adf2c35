import { gunzipSync, gzipSync } from 'node:zlib';
import type { SharedDiscoveryState } from '../../control-plane/leadership';
import type { DiscoveredFunctions, DiscoveredMap } from '../../discovery/fds/discovered';
import type { Logger } from '../../logger';
import { stableStringify } from '../memory-store';
import { Informer } from './informer';
import { isApiError, type KubeClient, type KubeObject } from './kube-client';
import { SECRETS } from './resource-types';

export const DISCOVERED_FUNCTIONS_SECRET = 'sluice-discovered-functions';

/** Marks the Secret, so that the informer lists and watches it alone. */
const STATE_LABEL = 'sluice.dev/discovered-functions';
const DATA_KEY = 'discovered.json.gz';
/** Attempts of a write that meets a concurrent one (a previous leader's last save). */
const MAX_ATTEMPTS = 5;

interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export interface KubeDiscoveryStateOptions {
  /** The state owns it: `close()` closes it. */
  client: KubeClient;
  /** Where the Secret lives: the leader Lease's namespace. */
  namespace: string;
  logger: Logger;
}

/**
 * Discovered functions in one Secret (they may hold credentials, e.g. Azure function keys), gzipped
 * JSON under `discovered.json.gz`: the leader saves what its discovery finds, every replica follows the
 * Secret (list + watch) and translates with it, so followers serve the same functions as the leader, and
 * a new leader starts from what the last one found. Saves coalesce: while one is written, only the
 * latest of those that arrive meanwhile is written next; a save equal to the stored one is not sent.
 */
export class KubeDiscoveryState implements SharedDiscoveryState {
  private readonly informer: Informer<SecretObject>;
  private started: Promise<void> | undefined;
  private pending: DiscoveredMap | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: KubeDiscoveryStateOptions) {
    this.informer = new Informer<SecretObject>({
      client: options.client,
      type: SECRETS,
      namespaces: [options.namespace],
      labelSelector: STATE_LABEL,
      logger: options.logger,
    });
  }

  async load(): Promise<Map<string, DiscoveredFunctions>> {
    try {
      await this.start();
    } catch (error) {
      throw new Error(
        `cannot read the discovered functions (Secret ${this.secretName}): ${(error as Error).message}`,
      );
    }
    return this.decode(this.informer.get(this.options.namespace, DISCOVERED_FUNCTIONS_SECRET));
  }

  save(discovered: DiscoveredMap): Promise<void> {
    this.pending = discovered;
    this.flushing ??= this.flush();
    return this.flushing;
  }

  watch(listener: (discovered: DiscoveredMap) => void): () => void {
    // A deleted Secret changes nothing: the leader writes it again with its next save.
    const stop = this.informer.on((event, object) => {
      if (event !== 'deleted' && object.metadata.name === DISCOVERED_FUNCTIONS_SECRET) {
        listener(this.decode(object));
      }
    });
    this.start().catch((error: Error) =>
      this.options.logger.error({ err: error.message }, 'cannot follow the discovered functions'),
    );
    return stop;
  }

  close(): void {
    this.informer.stop();
    this.options.client.close();
  }

  private start(): Promise<void> {
    this.started ??= (async () => {
      this.informer.start();
      await this.informer.whenSynced();
    })();
    return this.started;
  }

  private async flush(): Promise<void> {
    try {
      for (let next = this.pending; next; next = this.pending) {
        this.pending = undefined;
        await this.write(next);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async write(discovered: DiscoveredMap): Promise<void> {
    const { client, namespace } = this.options;
    const text = stableStringify(Object.fromEntries(discovered));
    const data = { [DATA_KEY]: gzipSync(text).toString('base64') };
    for (let attempt = 1; ; attempt++) {
      // Read afresh rather than from the informer, which may not have seen the last write yet.
      const current = await client.find<SecretObject>(SECRETS, namespace, DISCOVERED_FUNCTIONS_SECRET);
      if (current && textOf(current) === text) return;
      try {
        if (current) await client.replace<SecretObject>(SECRETS, { ...current, data });
        else await client.create<SecretObject>(SECRETS, this.newSecret(data));
        return;
      } catch (error) {
        if (!isApiError(error, 409) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  private newSecret(data: Record<string, string>): SecretObject {
    return {
      apiVersion: SECRETS.version,
      kind: SECRETS.kind,
      metadata: {
        name: DISCOVERED_FUNCTIONS_SECRET,
        namespace: this.options.namespace,
        labels: { [STATE_LABEL]: 'true', 'app.kubernetes.io/part-of': 'sluice' },
      },
      type: 'Opaque',
      data,
    };
  }

  /** The Secret's functions; none when it is absent or unreadable (discovery finds them again). */
  private decode(secret: SecretObject | undefined): Map<string, DiscoveredFunctions> {
    if (!secret?.data?.[DATA_KEY]) return new Map();
    try {
      const text = textOf(secret);
      if (text === undefined) throw new Error(`${DATA_KEY} is not gzip`);
      return new Map(Object.entries(JSON.parse(text) as Record<string, DiscoveredFunctions>));
    } catch (error) {
      this.options.logger.warn(
        { err: (error as Error).message, secret: this.secretName },
        'the discovered functions do not decode; discovery finds them again',
      );
      return new Map();
    }
  }

  private get secretName(): string {
    return `${this.options.namespace}/${DISCOVERED_FUNCTIONS_SECRET}`;
  }
}

/** The stored JSON; undefined when there is none or it does not gunzip. */
function textOf(secret: SecretObject): string | undefined {
  const encoded = secret.data?.[DATA_KEY];
  if (!encoded) return undefined;
  try {
    return gunzipSync(Buffer.from(encoded, 'base64')).toString('utf8');
  } catch {
    return undefined;
  }
}
