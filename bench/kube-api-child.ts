/**
 * The loopback Kubernetes API server of the tests (test/helpers/kube-api-server.ts) in a process of
 * its own, forked by kube.ts, so that serving lists, watches and writes does not share the control
 * plane's event loop. It holds the benchmark's world (kube-world.ts) and makes the endpoint changes,
 * telling when (process.hrtime, CLOCK_MONOTONIC) each was written.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KubeApiServer } from '../test/helpers/kube-api-server';
import { changedSlice, worldObjects, type KubeWorld } from './kube-world';

export type ApiCommand =
  { cmd: 'seed'; world: KubeWorld } | { cmd: 'change'; seq: number } | { cmd: 'requests' } | { cmd: 'close' };

export type ApiEvent =
  | { ev: 'seeded'; kubeconfig: string; objects: number; elapsedMs: number }
  | { ev: 'changed'; seq: number; at: string }
  | { ev: 'requests'; counts: Record<string, number> }
  | { ev: 'closed' };

const server = new KubeApiServer();
let world: KubeWorld | undefined;
let dir: string | undefined;

function send(event: ApiEvent): void {
  process.send?.(event);
}

async function seed(next: KubeWorld): Promise<void> {
  const started = Date.now();
  world = next;
  await server.start();
  let objects = 0;
  for (const object of worldObjects(world)) {
    server.put(object);
    objects++;
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-kube-'));
  const kubeconfig = server.writeKubeconfig(path.join(dir, 'kubeconfig'));
  send({ ev: 'seeded', kubeconfig, objects, elapsedMs: Date.now() - started });
}

/** Requests served so far by `verb resource[/subresource]` (status codes other than 2xx counted apart). */
function requestCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of server.requests) {
    const key = `${r.verb} ${r.resource ?? ''}${r.subresource ? `/${r.subresource}` : ''}${r.code !== undefined && r.code >= 300 ? ` ${r.code}` : ''}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

async function close(): Promise<void> {
  await server.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  send({ ev: 'closed' });
  setTimeout(() => process.exit(0), 50);
}

if (require.main === module) {
  process.on('message', (command: ApiCommand) => {
    if (command.cmd === 'seed') void seed(command.world);
    else if (command.cmd === 'change') {
      const at = process.hrtime.bigint();
      server.put(changedSlice(world as KubeWorld, command.seq));
      send({ ev: 'changed', seq: command.seq, at: at.toString() });
    } else if (command.cmd === 'requests') send({ ev: 'requests', counts: requestCounts() });
    else void close();
  });
  process.on('disconnect', () => process.exit(0));
}
