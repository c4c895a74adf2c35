import type { Resource, ResourceKey } from '../../src/api/resource';
import { MemoryStore, stableStringify, userContent } from '../../src/store/memory-store';
import { ConflictError, type StoreContents } from '../../src/store/store';

function upstream(name: string, port: number, namespace?: string): Resource {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Upstream',
    metadata: namespace === undefined ? ({ name } as Resource['metadata']) : { name, namespace },
    spec: { static: { hosts: [{ address: '10.0.0.1', port }] } },
  };
}

const keyA: ResourceKey = { kind: 'Upstream', namespace: 'default', name: 'a' };

let stores: MemoryStore[] = [];
function open(resources: Resource[] = [], debounceMs?: number): MemoryStore {
  const store = new MemoryStore(resources, debounceMs === undefined ? {} : { debounceMs });
  stores.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(stores.map((s) => s.close()));
  stores = [];
  jest.useRealTimers();
});

describe('MemoryStore', () => {
  it('stores resources with generation 1 and a resourceVersion, sorted by key, namespace defaulted', async () => {
    const store = open([upstream('b', 1, 'team'), upstream('a', 1)]);
    const { resources, errors } = await store.load();
    expect(errors).toEqual([]);
    expect(resources.map((r) => `${r.resource.metadata.namespace}/${r.resource.metadata.name}`)).toEqual([
      'default/a',
      'team/b',
    ]);
    expect(resources.every((r) => r.resource.metadata.generation === 1)).toBe(true);
    expect(new Set(resources.map((r) => r.resource.metadata.resourceVersion)).size).toBe(2);
  });

  it('bumps generation and resourceVersion on a content change, not on a no-op apply', async () => {
    const store = open();
    const first = await store.apply(upstream('a', 1));
    expect(first.metadata.generation).toBe(1);
    const same = await store.apply({ ...upstream('a', 1), status: { state: 'Accepted' } });
    expect(same.metadata).toEqual(first.metadata);
    const second = await store.apply(upstream('a', 2), first.metadata.resourceVersion);
    expect(second.metadata.generation).toBe(2);
    expect(Number(second.metadata.resourceVersion)).toBeGreaterThan(Number(first.metadata.resourceVersion));
    const loaded = (await store.load()).resources[0].resource;
    expect(loaded.metadata).toEqual(second.metadata);
    expect(loaded.spec).toEqual(upstream('a', 2).spec);
  });

  it('throws ConflictError on a stale resourceVersion, a vanished resource, or "" for an existing one', async () => {
    const store = open();
    const v1 = await store.apply(upstream('a', 1));
    await store.apply(upstream('a', 2));
    await expect(store.apply(upstream('a', 3), v1.metadata.resourceVersion)).rejects.toBeInstanceOf(
      ConflictError,
    );
    await expect(store.apply(upstream('a', 3), '')).rejects.toBeInstanceOf(ConflictError);
    await expect(store.apply(upstream('ghost', 1), '7')).rejects.toBeInstanceOf(ConflictError);
    await expect(store.apply(upstream('new', 1), '')).resolves.toMatchObject({ metadata: { generation: 1 } });
    const spec = (await store.load()).resources.find((r) => r.resource.metadata.name === 'a')!.resource.spec;
    expect(spec).toEqual(upstream('a', 2).spec);
  });

  it('keeps statuses apart from the content', async () => {
    const store = open([upstream('a', 1)]);
    const before = (await store.load()).resources[0].resource;
    await store.writeStatuses([
      { key: keyA, status: { state: 'Rejected', reasons: ['no hosts'], observedGeneration: 1 } },
      { key: { ...keyA, name: 'missing' }, status: { state: 'Accepted' } },
    ]);
    const after = (await store.load()).resources[0].resource;
    expect(after.status).toEqual({ state: 'Rejected', reasons: ['no hosts'], observedGeneration: 1 });
    expect(after.metadata).toEqual(before.metadata);
    expect([...(await store.readStatuses()).keys()]).toEqual(['Upstream/default/a']);
    // Callers cannot change what is stored through the objects they got back.
    after.status!.state = 'Accepted';
    after.metadata.name = 'mutated';
    expect((await store.load()).resources[0].resource.status!.state).toBe('Rejected');
    expect((await store.load()).resources[0].resource.metadata.name).toBe('a');
  });

  it('deletes a resource with its status; deleting a missing one is a no-op', async () => {
    const store = open([upstream('a', 1), upstream('b', 1)]);
    await store.writeStatuses([{ key: keyA, status: { state: 'Accepted' } }]);
    await store.delete(keyA);
    await store.delete(keyA);
    expect((await store.load()).resources.map((r) => r.resource.metadata.name)).toEqual(['b']);
    expect((await store.readStatuses()).size).toBe(0);
  });

  it('rejects resources that cannot be keyed', async () => {
    const store = open();
    await expect(store.apply({ ...upstream('a', 1), kind: '' as Resource['kind'] })).rejects.toThrow(/kind/);
    await expect(store.apply(upstream('', 1))).rejects.toThrow(/metadata.name/);
  });

  describe('watch', () => {
    function recorder() {
      const calls: StoreContents[] = [];
      return { calls, listener: (c: StoreContents) => void calls.push(c) };
    }

    it('debounces a burst into one call with the full contents (default 50 ms)', async () => {
      jest.useFakeTimers();
      const store = open([upstream('a', 1)]);
      const rec = recorder();
      store.watch(rec.listener);
      await store.apply(upstream('b', 1));
      await jest.advanceTimersByTimeAsync(30);
      await store.apply(upstream('b', 2));
      await store.delete(keyA);
      await jest.advanceTimersByTimeAsync(49);
      expect(rec.calls).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(rec.calls).toHaveLength(1);
      expect(
        rec.calls[0].resources.map((r) => [r.resource.metadata.name, r.resource.metadata.generation]),
      ).toEqual([['b', 2]]);
      await jest.advanceTimersByTimeAsync(1000);
      expect(rec.calls).toHaveLength(1);
    });

    it('honours a configured delay', async () => {
      jest.useFakeTimers();
      const store = open([], 200);
      const rec = recorder();
      store.watch(rec.listener);
      await store.apply(upstream('a', 1));
      await jest.advanceTimersByTimeAsync(199);
      expect(rec.calls).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(rec.calls).toHaveLength(1);
    });

    it('does not call listeners for no-op writes, net-zero bursts or statuses', async () => {
      jest.useFakeTimers();
      const store = open([upstream('a', 1)]);
      const rec = recorder();
      store.watch(rec.listener);
      await store.apply(upstream('a', 1));
      await store.writeStatuses([{ key: keyA, status: { state: 'Accepted' } }]);
      await store.apply(upstream('a', 2));
      await store.apply(upstream('a', 1));
      await jest.advanceTimersByTimeAsync(500);
      // a changed twice but ended as it was: its generation moved, so that is a change...
      expect(rec.calls).toHaveLength(1);
      expect(rec.calls[0].resources[0].resource.metadata.generation).toBe(3);
      // ...whereas creating and deleting within one burst is not.
      await store.apply(upstream('tmp', 1));
      await store.delete({ ...keyA, name: 'tmp' });
      await jest.advanceTimersByTimeAsync(500);
      expect(rec.calls).toHaveLength(1);
    });

    it('stops calling a listener after its stop function and after close()', async () => {
      jest.useFakeTimers();
      const store = open();
      const one = recorder();
      const two = recorder();
      const stopOne = store.watch(one.listener);
      store.watch(two.listener);
      await store.apply(upstream('a', 1));
      await jest.advanceTimersByTimeAsync(50);
      stopOne();
      await store.apply(upstream('a', 2));
      await jest.advanceTimersByTimeAsync(50);
      expect([one.calls.length, two.calls.length]).toEqual([1, 2]);
      await store.apply(upstream('a', 3));
      await store.close();
      await jest.advanceTimersByTimeAsync(500);
      expect(two.calls).toHaveLength(2);
    });
  });
});

describe('userContent', () => {
  it('drops status and store-managed metadata and defaults the namespace', () => {
    const r: Resource = {
      ...upstream('a', 1),
      metadata: {
        name: 'a',
        generation: 3,
        resourceVersion: 'x',
        labels: { l: 'v' },
      } as unknown as Resource['metadata'],
      status: { state: 'Accepted' },
    };
    expect(userContent(r)).toEqual({
      apiVersion: 'sluice.dev/v1',
      kind: 'Upstream',
      metadata: { name: 'a', namespace: 'default', labels: { l: 'v' } },
      spec: upstream('a', 1).spec,
    });
    expect(stableStringify({ b: 1, a: { d: [1, { f: 1, e: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"e":2,"f":1}]},"b":1}',
    );
  });
});
