import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PACKAGE_ROOT } from '../../src/package-root';
import { tempConfigDir } from '../helpers/sluice-cli';
import { UPSTREAMS } from '../helpers/translate-yaml';
import { waitFor } from '../helpers/wait';

describe('sluice serve', () => {
  it('serves on the addresses Settings name, reloads edits, and stops cleanly on SIGTERM', async () => {
    const dir = tempConfigDir({
      'upstreams.yaml': UPSTREAMS,
      'settings.yaml':
        'apiVersion: sluice.dev/v1\nkind: Settings\nmetadata: {name: default}\nspec: {xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0"}\n',
    });
    const child = spawn(
      process.execPath,
      [path.join(PACKAGE_ROOT, 'bin', 'sluice'), 'serve', '--config-dir', dir],
      {
        env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const [, xdsPort, adminPort] = await waitFor(
        'the serving line',
        () => /xDS on port (\d+), admin on port (\d+)/.exec(stderr) ?? undefined,
        {
          timeoutMs: 20000,
        },
      );
      expect(Number(xdsPort)).toBeGreaterThan(0);
      const admin = `http://127.0.0.1:${adminPort}`;
      expect((await fetch(`${admin}/readyz`)).status).toBe(200);
      fs.writeFileSync(
        path.join(dir, 'more.yaml'),
        'apiVersion: sluice.dev/v1\nkind: Upstream\nmetadata: {name: added}\nspec: {static: {hosts: [{address: 10.0.0.7, port: 80}]}}\n',
      );
      await waitFor('the new cluster', async () => {
        const dump = (await (await fetch(`${admin}/snapshot?proxy=default~gateway-proxy`)).json()) as Record<
          string,
          Record<string, Array<{ resource: { name: string } }>>
        >;
        const clusters =
          dump['default~gateway-proxy']['type.googleapis.com/envoy.config.cluster.v3.Cluster'] ?? [];
        return clusters.some((cluster) => cluster.resource.name === 'added_default') ? true : undefined;
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
