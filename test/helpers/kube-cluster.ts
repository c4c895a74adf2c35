import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KubeClient } from '../../src/store/kube/kube-client';
import { KubeApiServer } from './kube-api-server';

export interface LoopbackCluster {
  server: KubeApiServer;
  client: KubeClient;
}

/** A fresh loopback API server and a client of it for each test of the calling `describe`. */
export function loopbackCluster(): LoopbackCluster {
  const cluster = {} as LoopbackCluster;
  beforeEach(async () => {
    cluster.server = new KubeApiServer();
    await cluster.server.start();
    cluster.client = new KubeClient(cluster.server.kubeConfig());
  });
  afterEach(async () => {
    cluster.client.close();
    await cluster.server.close();
  });
  return cluster;
}

export interface LoopbackKubeconfig {
  server: KubeApiServer;
  /** A kubeconfig file for `server`: what the CLI's `--kubeconfig` reads. */
  kubeconfig: string;
}

/** A fresh loopback API server and a kubeconfig file for it, for each test of the calling `describe`. */
export function loopbackKubeconfig(): LoopbackKubeconfig {
  const cluster = {} as LoopbackKubeconfig;
  let dir: string;
  beforeEach(async () => {
    cluster.server = new KubeApiServer();
    await cluster.server.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kubeconfig-'));
    cluster.kubeconfig = cluster.server.writeKubeconfig(path.join(dir, 'kubeconfig'));
  });
  afterEach(async () => {
    await cluster.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return cluster;
}
