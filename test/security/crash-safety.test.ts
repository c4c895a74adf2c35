import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { translateDirectory } from '../../src/cli/offline';
import { FileStore } from '../../src/store/file-store';
import { oasExample, OpenApiProbeServer } from '../helpers/openapi-probe-server';
import { sluice } from '../helpers/sluice-cli';
import { waitFor } from '../helpers/wait';
import { CLI_MAIN, startNode, startServe, type Running } from './processes';

/**
 * Crash safety: `sluice serve` (writing statuses and discovered functions) and a process making CLI writes
 * in a loop are killed with SIGKILL in the middle of a burst of changes, at points chosen by how much each
 * has written (never by a timer). Every file left must parse, nothing half-written may be loaded, and a
 * restarted server must serve exactly what `sluice translate` makes of the directory, version for version.
 */

const ENV = { ...process.env, SLUICE_LOG_LEVEL: 'warn' };
const UPSTREAM_NAMES = 6;
/** The temp files every write goes through (src/store/atomic-file.ts): `.NAME.PID.RANDOM.tmp`. */
const TEMP_FILE = /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/;

/**
 * Writes in a loop through the CLI's own `main` (one process, so that writes follow each other fast):
 * upstreams rewritten with another document to discover, and a route added to the one VirtualService.
 */
const WRITER = `
const { main } = require(process.argv[1]);
const [dir, port, first] = process.argv.slice(2);
(async () => {
  for (let i = Number(first); ; i++) {
    const name = 'svc-' + (i % ${UPSTREAM_NAMES});
    const swaggerUrl = i % 2 ? '/openapi.json' : '/other.json';
    await main(['node', 'sluice', 'create', 'upstream', 'static', '--name', name, '--host', '127.0.0.1:' + port, '--swagger-url', swaggerUrl, '--config-dir', dir]);
    await main(['node', 'sluice', 'add', 'route', '--path-prefix', '/r' + i, '--dest-name', name, '--all-functions', '--config-dir', dir]);
  }
})();
`;

/** Every file under `dir`, hidden ones included, relative. */
function allFiles(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((entry) => {
    const child = path.join(rel, entry.name);
    return entry.isDirectory() ? allFiles(dir, child) : [child];
  });
}

type VersionsByProxy = Record<string, Record<string, Record<string, string>>>;

describe('crash safety', () => {
  const documents = new OpenApiProbeServer();
  let dir: string;
  const running: Running[] = [];

  beforeAll(async () => {
    await documents.start();
    documents.serve('/openapi.json', oasExample('3.0/json/petstore-simple.json'));
    documents.serve('/other.json', oasExample('3.0/json/petstore-expanded.json'));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-crash-'));
    // Watched below from the start; serve would make it with its first status write.
    fs.mkdirSync(path.join(dir, '.sluice'));
  });

  afterAll(async () => {
    for (const { child } of running) child.kill('SIGKILL');
    await Promise.all(running.map(({ exited }) => exited));
    await documents.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Keeps every process started, to kill what a failing test leaves running. */
  function started<T extends Running>(node: T): T {
    running.push(node);
    return node;
  }

  async function serve(): Promise<Running & { admin: string }> {
    const server = started(await startServe(dir, ENV));
    await waitFor('the first translation', async () =>
      (await fetch(`${server.admin}/readyz`)).ok ? true : undefined,
    );
    return server;
  }

  /** Counts the writes the server makes to DIR/.sluice (statuses, discovered functions) from now on. */
  function countStateWrites(): { count: () => number; stop: () => void } {
    let writes = 0;
    const watcher = fs.watch(path.join(dir, '.sluice'), (_event, name) => {
      if (name === 'status.json' || name === 'discovered.json') writes += 1;
    });
    return { count: () => writes, stop: () => watcher.close() };
  }

  /**
   * Every file parses and the file store loads no error: nothing half-written is read. Returns the temp
   * files left, each of them hidden (a name or a directory starting with '.'), which the store never reads.
   */
  async function checkDirectory(): Promise<string[]> {
    const files = allFiles(dir);
    const temps = files.filter((file) => TEMP_FILE.test(path.basename(file)));
    for (const file of files.filter((name) => !temps.includes(name))) {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      if (file.endsWith('.json')) expect(() => JSON.parse(text)).not.toThrow();
      else {
        expect(file).toMatch(/\.yaml$/);
        expect({ file, errors: parseAllDocuments(text).flatMap((doc) => doc.errors) }).toEqual({
          file,
          errors: [],
        });
      }
    }
    for (const temp of temps)
      expect(temp.split(path.sep).some((segment) => segment.startsWith('.'))).toBe(true);
    const store = new FileStore(dir);
    try {
      expect((await store.load()).errors).toEqual([]);
    } finally {
      await store.close();
    }
    return temps;
  }

  async function servedVersions(admin: string): Promise<VersionsByProxy> {
    const dump = (await (await fetch(`${admin}/snapshot`)).json()) as Record<
      string,
      Record<string, Array<{ version: string; resource: { name?: string; clusterName?: string } }>>
    >;
    return Object.fromEntries(
      Object.entries(dump).map(([proxy, types]) => [
        proxy,
        Object.fromEntries(
          Object.entries(types).map(([typeUrl, resources]) => [
            typeUrl,
            Object.fromEntries(
              resources.map(({ version, resource }) => [
                String(resource.name ?? resource.clusterName),
                version,
              ]),
            ),
          ]),
        ),
      ]),
    );
  }

  /** What `sluice translate` makes of the directory (its own code, in this process), as versions. */
  async function translatedVersions(): Promise<VersionsByProxy> {
    const { snapshots } = await translateDirectory(dir);
    return Object.fromEntries(
      [...snapshots].map(([proxy, snapshot]) => [
        proxy,
        Object.fromEntries(
          [...snapshot].map(([typeUrl, resources]) => [
            typeUrl,
            Object.fromEntries([...resources.values()].map((resource) => [resource.name, resource.version])),
          ]),
        ),
      ]),
    );
  }

  it('leaves only whole files when serve and a CLI writer are killed mid-burst, and serves the same versions after a restart', async () => {
    // Writes (CLI, then the server's) to see before each kill: early, mid-burst and deep into it.
    const moments = [
      { cliWrites: 3, stateWrites: 1 },
      { cliWrites: 10, stateWrites: 2 },
      { cliWrites: 40, stateWrites: 3 },
    ];
    let iteration = 0;
    let lastPids = { server: 0, writer: 0 };
    for (const moment of moments) {
      const server = await serve();
      const stateWrites = countStateWrites();
      const writer = started(
        startNode(['-e', WRITER, CLI_MAIN, dir, String(documents.port), String(iteration)], ENV),
      );
      const cliWrites = () => (writer.printed().stdout.match(/ written to /g) ?? []).length;
      await waitFor(
        `${moment.cliWrites} CLI writes and ${moment.stateWrites} state writes`,
        () =>
          cliWrites() >= moment.cliWrites && stateWrites.count() >= moment.stateWrites ? true : undefined,
        { timeoutMs: 30000, intervalMs: 5 },
      );
      server.child.kill('SIGKILL');
      writer.child.kill('SIGKILL');
      await Promise.all([server.exited, writer.exited]);
      stateWrites.stop();
      iteration += cliWrites();
      lastPids = { server: server.child.pid ?? 0, writer: writer.child.pid ?? 0 };
      await checkDirectory();
    }

    // What a writer killed mid-write leaves (whether or not the kills above hit one): its temp file.
    const staleYaml = path.join(
      dir,
      'default',
      'upstreams',
      `.svc-0.yaml.${lastPids.writer}.0123456789ab.tmp`,
    );
    const staleStatuses = path.join(dir, '.sluice', `.status.json.${lastPids.server}.0123456789ab.tmp`);
    fs.writeFileSync(
      staleYaml,
      'apiVersion: sluice.dev/v1\nkind: Upstream\nmetadata: {name: svc-0}\nspec: {sta',
    );
    fs.writeFileSync(staleStatuses, '{"statuses": {');
    await checkDirectory();

    // Discovery cannot change anything now: the restarted server serves the directory as it was left.
    await documents.stop();
    const { admin } = await serve();
    expect(await servedVersions(admin)).toEqual(await translatedVersions());

    // The next writes in their directories remove the temp files of the killed processes.
    expect(
      (
        await sluice([
          'create',
          'upstream',
          'static',
          '--name',
          'svc-0',
          '--host',
          '127.0.0.1:1',
          '--config-dir',
          dir,
        ])
      ).code,
    ).toBe(0);
    expect(fs.existsSync(staleYaml)).toBe(false);
    await waitFor('a status write', () => (fs.existsSync(staleStatuses) ? undefined : true));
  }, 120000);
});
