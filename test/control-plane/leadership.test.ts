import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { Metrics } from '../../src/admin/metrics';
import type { Resource } from '../../src/api/resource';
import type { ApiSnapshot } from '../../src/api/snapshot';
import { LeadingWork, type SharedDiscoveryState } from '../../src/control-plane/leadership';
import { startSluice, type RunningSluice } from '../../src/control-plane/sluice-server';
import type { DiscoveredFunctions, DiscoveredMap } from '../../src/discovery/fds/discovered';
import type { FunctionDiscoverer } from '../../src/discovery/fds/discoverer';
import { MemoryStore } from '../../src/store/memory-store';
import { UPSTREAMS, virtualService } from '../helpers/translate-yaml';
import { waitFor } from '../helpers/wait';

const logger = pino({ level: 'silent' });

function resourcesOf(yaml: string): Resource[] {
  return parseAllDocuments(yaml)
    .filter((doc) => doc.contents !== null)
    .map((doc) => doc.toJS() as Resource);
}

const routeTo = (upstream: string) =>
  `[{matchers: [{prefix: /}], routeAction: {single: {upstream: {name: ${upstream}}}}}]`;

/** What a Secret shared between replicas does: every save reaches every watcher. */
class SharedState implements SharedDiscoveryState {
  stored: DiscoveredMap = new Map();
  private readonly listeners = new Set<(discovered: DiscoveredMap) => void>();

  async load(): Promise<Map<string, DiscoveredFunctions>> {
    return new Map(this.stored);
  }

  async save(discovered: DiscoveredMap): Promise<void> {
    this.stored = new Map(discovered);
    for (const listener of this.listeners) listener(new Map(discovered));
  }

  watch(listener: (discovered: DiscoveredMap) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Discovers one function `found` on every static upstream, counting its runs. */
class CountingDiscoverer implements FunctionDiscoverer {
  readonly name = 'counting';
  readonly upstreamTypes = ['static'];
  readonly pollIntervalKey = 'openapi';
  readonly cloud = true;
  readonly defaultPollIntervalMs = 60_000;
  runs = 0;

  async discover() {
    this.runs++;
    return { functions: [{ name: 'found' }] };
  }
}

describe('startSluice with leadership', () => {
  let store: MemoryStore;
  let leadership: LeadingWork;
  let shared: SharedState;
  let discoverer: CountingDiscoverer;
  let sluice: RunningSluice;
  let latest: ApiSnapshot | undefined;

  beforeEach(async () => {
    store = new MemoryStore(resourcesOf(UPSTREAMS + virtualService(routeTo('petstore'))), { debounceMs: 10 });
    leadership = new LeadingWork(logger);
    shared = new SharedState();
    discoverer = new CountingDiscoverer();
    sluice = await startSluice({
      store,
      logger,
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
      metrics: new Metrics(),
      leadership,
      discoveryState: shared,
      discoverers: [discoverer],
    });
    sluice.controlPlane.onSnapshot((snapshot) => (latest = snapshot));
  });

  afterEach(async () => {
    await sluice.stop();
  });

  const leaderGauge = async () => (await sluice.metrics.leader.get()).values[0]?.value;
  const storedStatus = async (id: string) => (await store.readStatuses()).get(id);

  it('writes statuses only while leading, every current one as soon as it leads', async () => {
    expect(sluice.controlPlane.currentStatuses().get('VirtualService/default/vs')?.state).toBe('Accepted');
    expect(await store.readStatuses()).toEqual(new Map());
    expect(await leaderGauge()).toBe(0);

    leadership.lead();
    expect(await leaderGauge()).toBe(1);
    await waitFor('the statuses to be written', async () =>
      (await store.readStatuses()).size === sluice.controlPlane.currentStatuses().size ? true : undefined,
    );
    expect(await storedStatus('VirtualService/default/vs')).toMatchObject({
      state: 'Accepted',
      observedGeneration: 1,
    });

    await leadership.follow();
    expect(await leaderGauge()).toBe(0);
    const [edited] = resourcesOf(virtualService(routeTo('missing')));
    await store.apply(edited);
    await waitFor('the follower to see the edit', () =>
      sluice.controlPlane.currentStatuses().get('VirtualService/default/vs')?.state === 'Warning'
        ? true
        : undefined,
    );
    expect(await storedStatus('VirtualService/default/vs')).toMatchObject({ state: 'Accepted' });

    leadership.lead();
    await waitFor('the status of the edit, written by the new term', async () =>
      (await storedStatus('VirtualService/default/vs'))?.state === 'Warning' ? true : undefined,
    );
    expect(await storedStatus('VirtualService/default/vs')).toMatchObject({ observedGeneration: 2 });
  });

  it('discovers only while leading, and translates with what the leader shares while following', async () => {
    const fromLeader = new Map([
      [
        'default/canary',
        { discoverer: 'counting', functions: [{ name: 'shared' }], updatedAt: '2026-11-01T00:00:00.000Z' },
      ],
    ]);
    await shared.save(fromLeader);
    await waitFor('a translation with the shared functions', () =>
      latest?.discovered.get('default/canary') ? latest : undefined,
    );
    expect(latest!.discovered).toEqual(fromLeader);
    expect(discoverer.runs).toBe(0);

    leadership.lead();
    await waitFor('discovery of both upstreams', () =>
      shared.stored.get('default/petstore') &&
      shared.stored.get('default/canary')?.functions[0].name === 'found'
        ? true
        : undefined,
    );
    expect(discoverer.runs).toBe(2);
    expect(sluice.fds.current()).toEqual(shared.stored);
    await waitFor('a translation with the discovered functions', () =>
      latest?.discovered.get('default/petstore') ? true : undefined,
    );

    await leadership.follow();
    const fromNextLeader = new Map([
      [
        'default/petstore',
        { discoverer: 'counting', functions: [{ name: 'next' }], updatedAt: '2026-11-01T00:00:00.000Z' },
      ],
    ]);
    await shared.save(fromNextLeader);
    await waitFor('a translation with what the next leader shares', () =>
      latest?.discovered.get('default/petstore')?.functions[0].name === 'next' ? true : undefined,
    );
  });
});
