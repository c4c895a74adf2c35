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
