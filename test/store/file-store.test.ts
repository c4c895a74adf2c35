import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import type { Resource } from '../../src/api/resource';
import { FileStore, defaultPath, kindPlural, versionOf } from '../../src/store/file-store';
import { ConflictError, type StoreContents } from '../../src/store/store';

const UPSTREAM_A = `# the first upstream
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: a, namespace: default}
spec:
  static:
    hosts: [{address: 10.0.0.1, port: 80}]  # primary host
`;
const UPSTREAM_B = `---
# second document: keep this comment
apiVersion: sluice.dev/v1
kind: Upstream
metadata:
  name: b   # b's name
spec: {static: {hosts: [{address: 10.0.0.2, port: 8080}]}}
`;
const UPSTREAM_C = `---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: c, namespace: team}
# a comment that belongs to c
spec: {static: {hosts: []}}
`;

let dir: string;
let stores: FileStore[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-file-store-'));
  stores = [];
});

afterEach(async () => {
  await Promise.all(stores.map((s) => s.close()));
  jest.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(debounceMs = 50): FileStore {
  const store = new FileStore(dir, { debounceMs });
  stores.push(store);
  return store;
}

function write(rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), text);
}

function read(rel: string): string {
  return fs.readFileSync(path.join(dir, rel), 'utf8');
}

/** Every file and directory under dir, hidden ones included. */
function tree(): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .map((p) => p.split(path.sep).join('/'))
    .sort();
}

function names(contents: StoreContents): string[] {
  return contents.resources.map(
    (r) => `${r.resource.kind}/${r.resource.metadata.namespace}/${r.resource.metadata.name}`,
  );
}

function find(contents: StoreContents, name: string): Resource {
  const found = contents.resources.find((r) => r.resource.metadata.name === name);
  if (!found) throw new Error(`no resource ${name} in ${names(contents).join(', ')}`);
  return found.resource;
}

function upstream(name: string, port: number, namespace = 'default'): Resource {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Upstream',
    metadata: { name, namespace },
    spec: { static: { hosts: [{ address: '10.1.1.1', port }] } },
  };
}

interface Host {
  address: string;
  port: number;
}

/** The (mutable) host list of a static Upstream. */
function hostsOf(r: Resource): Host[] {
  return (r.spec as { static: { hosts: Host[] } }).static.hosts;
}

/** Records listener calls; `next()` waits for the next one (or fails after a timeout). */
function recorder() {
  const calls: StoreContents[] = [];
  const waiters: Array<() => void> = [];
  return {
    calls,
    listener: (contents: StoreContents) => {
      calls.push(contents);
      waiters.splice(0).forEach((w) => w());
    },
    /** Resolves with the first call (counting calls already made) that satisfies `pred`. */
    async until(pred: (c: StoreContents) => boolean, timeoutMs = 5000): Promise<StoreContents> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = calls.find(pred);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`no matching watch call within ${timeoutMs} ms (${calls.length} calls)`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}

/** Waits until the store has started and finished one more load() (a watcher reload). */
async function nextReload(spy: jest.SpyInstance, timeoutMs = 5000): Promise<void> {
  const before = spy.mock.calls.length;
  const deadline = Date.now() + timeoutMs;
  while (spy.mock.calls.length === before) {
    if (Date.now() > deadline) throw new Error('the store did not reload');
    await new Promise((r) => setTimeout(r, 5));
  }
  await spy.mock.results[spy.mock.results.length - 1].value;
}

describe('FileStore.load', () => {
  it('reads multi-document files in nested directories, in sorted path order, with locations', async () => {
    write('b/upstreams.yaml', UPSTREAM_A + UPSTREAM_B);
    write('a/team/c.yml', UPSTREAM_C.replace('---\n', ''));
    write('z.yaml', '---\n---\n# nothing but a comment\n');
    const contents = await open().load();
    expect(contents.errors).toEqual([]);
    expect(names(contents)).toEqual(['Upstream/default/a', 'Upstream/default/b', 'Upstream/team/c']);
    const b = contents.resources[1];
    expect(b.resource.metadata.namespace).toBe('default'); // defaulted
    expect(b.resource.spec).toEqual({ static: { hosts: [{ address: '10.0.0.2', port: 8080 }] } });
    expect(contents.resources.map((r) => r.location)).toEqual([
      { file: path.join(dir, 'b/upstreams.yaml'), line: 2 },
      { file: path.join(dir, 'b/upstreams.yaml'), line: 10 },
      { file: path.join(dir, 'a/team/c.yml'), line: 1 },
    ]);
  });

  it('skips hidden files and directories and files that are not YAML', async () => {
    write('a.yaml', UPSTREAM_A);
    write('.hidden.yaml', UPSTREAM_B);
    write('.git/config.yaml', UPSTREAM_B);
    write('sub/.cache/c.yaml', UPSTREAM_C);
    write('notes.txt', 'kind: nope');
    write('.sluice/status.json', '{}');
    const contents = await open().load();
    expect(names(contents)).toEqual(['Upstream/default/a']);
    expect(contents.errors).toEqual([]);
  });

  it('reports a YAML syntax error with file and line while the rest still loads', async () => {
    const bad = [
      'apiVersion: sluice.dev/v1',
      'kind: Upstream',
      'metadata: {name: ok-in-bad-file}',
      '---',
      'apiVersion: sluice.dev/v1',
      'kind: Upstream',
      'metadata: {name: broken: here}',
      '---',
      'apiVersion: sluice.dev/v1',
      'kind: Upstream',
      'metadata: {name: after-the-error}',
      '',
    ].join('\n');
    write('bad.yaml', bad);
    write('good.yaml', UPSTREAM_A);
    const store = new FileStore(path.relative(process.cwd(), dir), { debounceMs: 50 });
    stores.push(store);
    const contents = await store.load();
    expect(names(contents)).toEqual([
      'Upstream/default/a',
      'Upstream/default/after-the-error',
      'Upstream/default/ok-in-bad-file',
    ]);
    expect(contents.errors).toHaveLength(1);
    const file = path.join(path.relative(process.cwd(), dir), 'bad.yaml');
    expect(contents.errors[0].location).toEqual({ file, line: 7 });
    expect(contents.errors[0].message).toMatch(new RegExp(`^${escapeRe(file)}:7: YAML syntax error: \\S`));
    expect(contents.errors[0].message).not.toContain('\n');
  });

  it('reports documents that are not resources, with file and line', async () => {
    write(
      'odd.yaml',
      [
        'apiVersion: sluice.dev/v1', // 1
        'metadata: {name: no-kind}',
        '---',
        'apiVersion: sluice.dev/v1', // 4
        'kind: Upstream',
        'metadata: {namespace: x}',
        '---',
        'kind: Upstream', // 8
        'metadata: {name: no-api-version}',
        '---',
        '- just', // 11
        '- a list',
        '',
      ].join('\n'),
    );
    const contents = await open().load();
    const file = path.join(dir, 'odd.yaml');
    expect(contents.resources).toEqual([]);
    expect(contents.errors.map((e) => [e.location.line, e.key, e.message])).toEqual([
      [1, undefined, `${file}:1: not a resource: missing kind`],
      [4, undefined, `${file}:4: not a resource: missing metadata.name`],
      [
        8,
        { kind: 'Upstream', namespace: 'default', name: 'no-api-version' },
        `${file}:8: not a resource: missing apiVersion`,
      ],
      [11, undefined, expect.stringMatching(new RegExp(`^${escapeRe(file)}:11: document is not a mapping`))],
    ]);
    expect(contents.errors.every((e) => e.location.file === file)).toBe(true);
  });

  it('keeps both definitions of a duplicated key, ordered by key then file order', async () => {
    write('2.yaml', UPSTREAM_A.replace('port: 80', 'port: 2'));
    write('1.yaml', UPSTREAM_A.replace('port: 80', 'port: 1') + UPSTREAM_B);
    const contents = await open().load();
    expect(names(contents)).toEqual(['Upstream/default/a', 'Upstream/default/a', 'Upstream/default/b']);
    expect(contents.resources.map((r) => path.basename(r.location.file!))).toEqual([
      '1.yaml',
      '2.yaml',
      '1.yaml',
    ]);
    const ports = contents.resources.slice(0, 2).map((r) => hostsOf(r.resource)[0].port);
    expect(ports).toEqual([1, 2]);
  });

  it('derives resourceVersion from the content and does not load status or versions from user files', async () => {
    write('a.yaml', UPSTREAM_A + 'status: {state: Accepted}\n');
    const store = open();
    const first = find(await store.load(), 'a');
    expect(first.status).toBeUndefined();
    expect(first.metadata.generation).toBe(1);
    expect(first.metadata.resourceVersion).toMatch(/^[0-9a-f]{16}$/);
    // Comments and formatting are not content.
    write('a.yaml', '# reformatted\n' + UPSTREAM_A.replace('{name: a, namespace: default}', '\n  name: a'));
    const same = find(await store.load(), 'a');
    expect(same.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    expect(same.metadata.generation).toBe(1);
    write('a.yaml', UPSTREAM_A.replace('port: 80', 'port: 81'));
    const changed = find(await store.load(), 'a');
    expect(changed.metadata.resourceVersion).not.toBe(first.metadata.resourceVersion);
    expect(changed.metadata.generation).toBe(2);
  });

  it('returns empty contents for a directory that does not exist yet', async () => {
    const store = new FileStore(path.join(dir, 'missing'));
    stores.push(store);
    expect(await store.load()).toEqual({ resources: [], errors: [] });
  });
});

describe('FileStore.apply', () => {
  it('writes a new resource to NAMESPACE/PLURAL/NAME.yaml without status or store fields', async () => {
    const store = open();
    const vs: Resource = {
      apiVersion: 'sluice.dev/v1',
      kind: 'VirtualService',
      metadata: { name: 'default', namespace: 'default', generation: 7, resourceVersion: 'bogus' },
      spec: { virtualHost: { domains: ['*'], routes: [] } },
      status: { state: 'Accepted' },
    };
    const stored = await store.apply(vs);
    const rel = 'default/virtualservices/default.yaml';
    expect(parse(read(rel))).toEqual({
      apiVersion: 'sluice.dev/v1',
      kind: 'VirtualService',
      metadata: { name: 'default', namespace: 'default' },
      spec: { virtualHost: { domains: ['*'], routes: [] } },
    });
    expect(stored.status).toBeUndefined();
    expect(stored.metadata.generation).toBe(1);
    const loaded = find(await store.load(), 'default');
    expect(loaded.metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
    expect(loaded.metadata.generation).toBe(1);
    expect(tree()).toEqual(['default', 'default/virtualservices', rel]);
  });

  it('replaces one document of a multi-document file, keeping the other documents byte for byte', async () => {
    write('all.yaml', UPSTREAM_A + UPSTREAM_B + UPSTREAM_C);
    const store = open();
    const b = find(await store.load(), 'b');
    hostsOf(b)[0].port = 9090;
    b.metadata.labels = { team: 'payments' };
    const stored = await store.apply(b, b.metadata.resourceVersion);

    const text = read('all.yaml');
    expect(text.startsWith(UPSTREAM_A)).toBe(true);
    expect(text.endsWith(UPSTREAM_C)).toBe(true);
    const middle = text.slice(UPSTREAM_A.length, text.length - UPSTREAM_C.length);
    // The replaced document keeps its own comments where the content did not change.
    expect(middle).toContain('# second document: keep this comment');
    expect(middle).toContain("# b's name");
    expect(middle).toMatch(/^---\n/);
    expect(middle).not.toContain('namespace'); // left implicit, as the user wrote it

    const contents = await store.load();
    expect(contents.errors).toEqual([]);
    expect(names(contents)).toEqual(['Upstream/default/a', 'Upstream/default/b', 'Upstream/team/c']);
    const reloaded = find(contents, 'b');
    expect(reloaded.spec).toEqual({ static: { hosts: [{ address: '10.0.0.2', port: 9090 }] } });
    expect(reloaded.metadata.labels).toEqual({ team: 'payments' });
    expect(reloaded.metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
    expect(reloaded.metadata.generation).toBe(2);
    expect(stored.metadata.generation).toBe(2);
  });

  it('can edit the first document of a file that also holds a broken one', async () => {
    write('mixed.yaml', UPSTREAM_A + '---\nkind: [unclosed\n');
    const store = open();
    const a = find(await store.load(), 'a');
    hostsOf(a).push({ address: '10.0.0.9', port: 90 });
    await store.apply(a);
    const text = read('mixed.yaml');
    expect(text).toContain('# the first upstream');
    expect(text).toContain('# primary host');
    expect(text.endsWith('---\nkind: [unclosed\n')).toBe(true);
    const contents = await store.load();
    expect(hostsOf(find(contents, 'a'))).toHaveLength(2);
    expect(contents.errors).toHaveLength(1);
  });

  it('does not touch the file when the content is unchanged', async () => {
    write('a.yaml', UPSTREAM_A);
    const store = open();
    const a = find(await store.load(), 'a');
    const inode = fs.statSync(path.join(dir, 'a.yaml')).ino;
    const stored = await store.apply({ ...a, status: { state: 'Rejected' } }, a.metadata.resourceVersion);
    expect(stored.metadata.resourceVersion).toBe(a.metadata.resourceVersion);
    expect(stored.metadata.generation).toBe(1);
    expect(read('a.yaml')).toBe(UPSTREAM_A);
    expect(fs.statSync(path.join(dir, 'a.yaml')).ino).toBe(inode);
  });

  it('appends to the file at the default path when it holds other documents', async () => {
    write('default/upstreams/x.yaml', UPSTREAM_C.replace('---\n', ''));
    const store = open();
    await store.apply(upstream('x', 1));
    const contents = await store.load();
    expect(names(contents)).toEqual(['Upstream/default/x', 'Upstream/team/c']);
    expect(read('default/upstreams/x.yaml').startsWith(UPSTREAM_C.replace('---\n', '') + '---\n')).toBe(true);
  });

  it('writes atomically: readers never see partial content and no temp files are left', async () => {
    write('a.yaml', UPSTREAM_A + UPSTREAM_B);
    const store = open();
    const before = read('a.yaml');
    const fsp = fs.promises;
    const realOpen = fsp.open.bind(fsp);
    const seenDuringWrite: string[] = [];
    jest.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
      const handle = await realOpen(...args);
      if (path.basename(String(args[0])).startsWith('.')) {
        const realSync = handle.sync.bind(handle);
        // Halfway: the temp file is written but not renamed yet. The target is untouched.
        handle.sync = async () => {
          await realSync();
          seenDuringWrite.push(read('a.yaml'));
          seenDuringWrite.push(...fs.readdirSync(dir).filter((n) => n.startsWith('.')));
        };
      }
      return handle;
    });
    const b = find(await store.load(), 'b');
    hostsOf(b)[0].port = 1;
    await store.apply(b);
    expect(seenDuringWrite[0]).toBe(before);
    expect(seenDuringWrite[1]).toMatch(/^\.a\.yaml\..*\.tmp$/);
    expect(read('a.yaml')).not.toBe(before);
    expect(tree()).toEqual(['a.yaml']);
  });

  it('never exposes a half-written file to a concurrent reader', async () => {
    const hosts = 200;
    const big = (port: number) => {
      const r = upstream('big', port);
      hostsOf(r).splice(
        0,
        1,
        ...Array.from({ length: hosts }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}`, port })),
      );
      return r;
    };
    const store = open();
    await store.apply(big(1));
    const file = path.join(dir, defaultPath({ kind: 'Upstream', namespace: 'default', name: 'big' }));
    let writing = true;
    const seen = new Set<string>();
    const reader = (async () => {
      while (writing) seen.add(await fs.promises.readFile(file, 'utf8'));
    })();
    for (let port = 2; port <= 10; port++) await store.apply(big(port));
    writing = false;
    await reader;
    // Every version a reader saw is a complete one.
    for (const text of seen) {
      const ports = new Set(parse(text).spec.static.hosts.map((h: { port: number }) => h.port));
      expect(parse(text).spec.static.hosts).toHaveLength(hosts);
      expect(ports.size).toBe(1);
    }
    expect(seen.size).toBeGreaterThan(1);
    expect(tree().filter((p) => path.basename(p).startsWith('.'))).toEqual([]);
  });

  it('throws ConflictError on a stale resourceVersion and leaves the file alone', async () => {
    write('a.yaml', UPSTREAM_A);
    const store = open();
    const a = find(await store.load(), 'a');
    // The user edits the file after Sluice read it.
    const edited = UPSTREAM_A.replace('port: 80', 'port: 8000');
    write('a.yaml', edited);
    hostsOf(a)[0].address = '10.9.9.9';
    await expect(store.apply(a, a.metadata.resourceVersion)).rejects.toBeInstanceOf(ConflictError);
    expect(read('a.yaml')).toBe(edited);
    // With the fresh version the write goes through.
    const fresh = find(await store.load(), 'a');
    hostsOf(fresh)[0].address = '10.9.9.9';
    await store.apply(fresh, fresh.metadata.resourceVersion);
    expect(parse(read('a.yaml')).spec.static.hosts).toEqual([{ address: '10.9.9.9', port: 8000 }]);
  });

  it('throws ConflictError when the resource is gone or, with expected "", already exists', async () => {
    const store = open();
    await expect(store.apply(upstream('ghost', 1), 'abc')).rejects.toBeInstanceOf(ConflictError);
    await store.apply(upstream('new', 1), '');
    await expect(store.apply(upstream('new', 2), '')).rejects.toBeInstanceOf(ConflictError);
    expect(tree()).toEqual(['default', 'default/upstreams', 'default/upstreams/new.yaml']);
  });

  it('throws ConflictError instead of overwriting a user edit made while it writes', async () => {
    write('a.yaml', UPSTREAM_A + UPSTREAM_B);
    const store = open();
    const b = find(await store.load(), 'b');
    const userEdit = UPSTREAM_A + UPSTREAM_B + '# the user was here\n';
    const fsp = fs.promises;
    const realOpen = fsp.open.bind(fsp);
    jest.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
      // Sluice has read the file and is writing its temp file: the user saves in their editor.
      if (path.basename(String(args[0])).startsWith('.'))
        fs.writeFileSync(path.join(dir, 'a.yaml'), userEdit);
      return realOpen(...args);
    });
    hostsOf(b)[0].port = 1;
    await expect(store.apply(b, b.metadata.resourceVersion)).rejects.toBeInstanceOf(ConflictError);
    expect(read('a.yaml')).toBe(userEdit);
    expect(tree()).toEqual(['a.yaml']);
  });

  it('rejects names that cannot be file names', async () => {
    await expect(open().apply(upstream('../escape', 1))).rejects.toThrow(/cannot be used as a file name/);
    expect(tree()).toEqual([]);
  });
});

describe('FileStore.delete', () => {
  it('removes one document and keeps the others byte for byte', async () => {
    write('all.yaml', UPSTREAM_A + UPSTREAM_B + UPSTREAM_C);
    const store = open();
    await store.load();
    await store.delete({ kind: 'Upstream', namespace: 'default', name: 'b' });
    expect(read('all.yaml')).toBe(UPSTREAM_A + UPSTREAM_C);
    await store.delete({ kind: 'Upstream', namespace: 'default', name: 'a' });
    expect(read('all.yaml')).toBe(UPSTREAM_C);
    expect(names(await store.load())).toEqual(['Upstream/team/c']);
  });

  it('removes the file (and directories left empty) when it held the only document', async () => {
    write('keep.yaml', UPSTREAM_A);
    const store = open();
    await store.apply(upstream('x', 1, 'ns'));
    expect(tree()).toContain('ns/upstreams/x.yaml');
    await store.delete({ kind: 'Upstream', namespace: 'ns', name: 'x' });
    expect(tree()).toEqual(['keep.yaml']);
    // Deleting what is not there is a no-op.
    await store.delete({ kind: 'Upstream', namespace: 'ns', name: 'x' });
    expect(tree()).toEqual(['keep.yaml']);
  });
});

describe('FileStore statuses', () => {
  it('writes statuses to .sluice/status.json and never rewrites user files', async () => {
    write('all.yaml', UPSTREAM_A + UPSTREAM_B);
    const before = fs.readFileSync(path.join(dir, 'all.yaml'));
    const store = open();
    const loaded = await store.load();
    const a = find(loaded, 'a');
    const key = { kind: 'Upstream' as const, namespace: 'default', name: 'a' };
    await store.writeStatuses([
      { key, status: { state: 'Accepted', reportedBy: 'sluice', observedGeneration: 1 } },
    ]);

    expect(fs.readFileSync(path.join(dir, 'all.yaml')).equals(before)).toBe(true);
    expect(tree()).toEqual(['.sluice', '.sluice/status.json', 'all.yaml']);
    const file = JSON.parse(read('.sluice/status.json'));
    expect(file.statuses).toEqual({
      'Upstream/default/a': { state: 'Accepted', reportedBy: 'sluice', observedGeneration: 1 },
    });
    expect(await store.readStatuses()).toEqual(
      new Map([['Upstream/default/a', file.statuses['Upstream/default/a']]]),
    );

    const reloaded = find(await store.load(), 'a');
    expect(reloaded.status).toEqual({ state: 'Accepted', reportedBy: 'sluice', observedGeneration: 1 });
    expect(reloaded.metadata.generation).toBe(a.metadata.generation);
    expect(reloaded.metadata.resourceVersion).toBe(a.metadata.resourceVersion);
    expect(find(await store.load(), 'b').status).toBeUndefined();

    // The same statuses again: the file is not rewritten.
    const inode = fs.statSync(path.join(dir, '.sluice/status.json')).ino;
    await store.writeStatuses([
      { key, status: { state: 'Accepted', reportedBy: 'sluice', observedGeneration: 1 } },
    ]);
    expect(fs.statSync(path.join(dir, '.sluice/status.json')).ino).toBe(inode);
    expect(tree()).toEqual(['.sluice', '.sluice/status.json', 'all.yaml']);
  });

  it('bumps generation on content changes only, and keeps it across restarts', async () => {
    write('a.yaml', UPSTREAM_A);
    const store = open();
    const key = { kind: 'Upstream' as const, namespace: 'default', name: 'a' };
    expect(find(await store.load(), 'a').metadata.generation).toBe(1);
    await store.writeStatuses([
      { key, status: { state: 'Rejected', reasons: ['bad'], observedGeneration: 1 } },
    ]);
    expect(find(await store.load(), 'a').metadata.generation).toBe(1);
    write('a.yaml', UPSTREAM_A.replace('port: 80', 'port: 81'));
    expect(find(await store.load(), 'a').metadata.generation).toBe(2);
    await store.writeStatuses([{ key, status: { state: 'Accepted', observedGeneration: 2 } }]);
    await store.close();

    // A new process: the generation is remembered, and a change made while it was down counts.
    const restarted = open();
    const again = find(await restarted.load(), 'a');
    expect(again.metadata.generation).toBe(2);
    expect(again.status).toEqual({ state: 'Accepted', observedGeneration: 2 });
    write('a.yaml', UPSTREAM_A.replace('port: 80', 'port: 82'));
    const third = open();
    expect(find(await third.load(), 'a').metadata.generation).toBe(3);
  });

  it('forgets statuses of resources that are gone', async () => {
    write('a.yaml', UPSTREAM_A + UPSTREAM_B);
    const store = open();
    await store.load();
    const status = { state: 'Accepted' as const };
    await store.writeStatuses([
      { key: { kind: 'Upstream', namespace: 'default', name: 'a' }, status },
      { key: { kind: 'Upstream', namespace: 'default', name: 'b' }, status },
    ]);
    write('a.yaml', UPSTREAM_A);
    await store.load();
    await store.writeStatuses([{ key: { kind: 'Upstream', namespace: 'default', name: 'a' }, status }]);
    expect([...(await store.readStatuses()).keys()]).toEqual(['Upstream/default/a']);
  });
});

describe('FileStore.watch', () => {
  async function watching(debounceMs = 50) {
    write('a.yaml', UPSTREAM_A);
    const store = open(debounceMs);
    const rec = recorder();
    store.watch(rec.listener);
    await store.ready();
    return { store, rec };
  }

  it('reports a new file, a change, a rename and a delete, once each', async () => {
    const { rec } = await watching();

    write('sub/b.yaml', UPSTREAM_B);
    await rec.until((c) => names(c).includes('Upstream/default/b'));
    expect(rec.calls).toHaveLength(1);

    write('sub/b.yaml', UPSTREAM_B.replace('8080', '9090'));
    const changed = await rec.until((c) => hostsOf(find(c, 'b'))[0].port === 9090);
    expect(find(changed, 'b').metadata.generation).toBe(2);
    expect(rec.calls).toHaveLength(2);

    fs.renameSync(path.join(dir, 'sub/b.yaml'), path.join(dir, 'sub/renamed.yaml'));
    const renamed = await rec.until((c) =>
      c.resources.some((r) => r.location.file === path.join(dir, 'sub/renamed.yaml')),
    );
    expect(names(renamed)).toEqual(['Upstream/default/a', 'Upstream/default/b']);
    expect(rec.calls).toHaveLength(3);

    fs.unlinkSync(path.join(dir, 'sub/renamed.yaml'));
    await rec.until((c) => !names(c).includes('Upstream/default/b'));
    expect(rec.calls).toHaveLength(4);
  });

  it('handles editors that save through a temp file and a rename', async () => {
    const { rec } = await watching();
    const tmp = path.join(dir, '.a.yaml.swp');
    fs.writeFileSync(tmp, UPSTREAM_A.replace('port: 80', 'port: 8443'));
    fs.renameSync(tmp, path.join(dir, 'a.yaml'));
    const saved = await rec.until((c) => hostsOf(find(c, 'a'))[0].port === 8443);
    expect(saved.errors).toEqual([]);
    expect(rec.calls).toHaveLength(1);
  });

  it('turns a burst of writes into one call', async () => {
    // Writes 10 ms apart for ~200 ms: without the (300 ms) debounce they would be several calls.
    const { rec } = await watching(300);
    for (let i = 0; i < 10; i++) {
      write(`burst/u${i}.yaml`, UPSTREAM_A.replace('name: a', `name: u${i}`));
      await new Promise((r) => setTimeout(r, 10));
    }
    for (let i = 0; i < 10; i++) {
      write(`burst/u${i}.yaml`, UPSTREAM_A.replace('name: a', `name: u${i}`).replace('80', '81'));
      await new Promise((r) => setTimeout(r, 10));
    }
    const all = await rec.until((c) => c.resources.length === 11);
    expect(all.resources.filter((r) => hostsOf(r.resource)[0].port === 81)).toHaveLength(10);
    // A later, separate change is a second call: had the burst produced more than one, this would be 3.
    write('sentinel.yaml', UPSTREAM_C);
    await rec.until((c) => names(c).includes('Upstream/team/c'));
    expect(rec.calls).toHaveLength(2);
  });

  it('does not call listeners when nothing changed (same bytes, status writes, hidden files)', async () => {
    const { store, rec } = await watching();
    const loads = jest.spyOn(store, 'load');
    const reload = nextReload(loads);
    write('a.yaml', UPSTREAM_A); // same content
    write('.scratch.yaml', UPSTREAM_B); // hidden
    await reload;
    await store.writeStatuses([
      { key: { kind: 'Upstream', namespace: 'default', name: 'a' }, status: { state: 'Accepted' } },
    ]);
    write('sentinel.yaml', UPSTREAM_C);
    const sentinel = await rec.until((c) => names(c).includes('Upstream/team/c'));
    expect(rec.calls).toHaveLength(1);
    expect(names(sentinel)).toEqual(['Upstream/default/a', 'Upstream/team/c']);
  });

  it('reports a syntax error introduced by an edit, then its fix', async () => {
    const { rec } = await watching();
    write('a.yaml', 'kind: [oops\n');
    await rec.until((c) => c.errors.length === 1 && c.resources.length === 0);
    write('a.yaml', UPSTREAM_A);
    await rec.until((c) => c.errors.length === 0 && c.resources.length === 1);
    expect(rec.calls).toHaveLength(2);
  });

  it('reports writes made through the store, and stops after the stop function or close()', async () => {
    const { store, rec } = await watching();
    const other = recorder();
    const stopOther = store.watch(other.listener);
    await store.apply(upstream('via-store', 1));
    await rec.until((c) => names(c).includes('Upstream/default/via-store'));
    await other.until((c) => names(c).includes('Upstream/default/via-store'));

    // Listeners are called one after the other in the same turn: once rec has the change, so
    // would `other` if it were still registered.
    stopOther();
    write('second.yaml', UPSTREAM_B);
    await rec.until((c) => names(c).includes('Upstream/default/b'));
    expect(rec.calls).toHaveLength(2);
    expect(other.calls).toHaveLength(1);

    // After close(), a second store watching the same directory sees the change; the first does not.
    await store.close();
    const witness = open();
    const seen = recorder();
    witness.watch(seen.listener);
    await witness.ready();
    write('late.yaml', UPSTREAM_C);
    await seen.until((c) => names(c).includes('Upstream/team/c'));
    expect(rec.calls).toHaveLength(2);
    expect(() => store.watch(() => undefined)).toThrow(/closed/);
  });
});

describe('naming helpers', () => {
  it('maps kinds to lower-case plural directory names', () => {
    expect(
      ['Upstream', 'VirtualService', 'RouteTable', 'Gateway', 'Secret', 'Settings'].map(kindPlural),
    ).toEqual(['upstreams', 'virtualservices', 'routetables', 'gateways', 'secrets', 'settings']);
    expect(defaultPath({ kind: 'VirtualService', namespace: 'default', name: 'default' })).toBe(
      'default/virtualservices/default.yaml',
    );
  });

  it('versions ignore status and store-managed metadata', () => {
    const r = upstream('a', 1);
    const v = versionOf(r);
    expect(
      versionOf({ ...r, status: { state: 'Accepted' }, metadata: { ...r.metadata, generation: 4 } }),
    ).toBe(v);
    expect(versionOf(upstream('a', 2))).not.toBe(v);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
