import type { KubeObject } from '../../src/store/kube/kube-client';

/** Sluice objects and core Secrets as the API server holds them, for the loopback server. */

export function sluiceObject(
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  namespace = 'default',
): KubeObject {
  return { apiVersion: 'sluice.dev/v1', kind, metadata: { name, namespace }, spec };
}

/** The Upstream `petstore`: one static host. */
export function petstoreUpstream(): KubeObject {
  return sluiceObject('Upstream', 'petstore', { static: { hosts: [{ address: '10.0.0.12', port: 8080 }] } });
}

/** A core Secret of `type` in `default` whose `data` is given in plain text (base64 in the object). */
export function coreSecret(
  name: string,
  type: string,
  data: Record<string, string>,
  labels?: Record<string, string>,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type,
    metadata: { name, namespace: 'default', ...(labels ? { labels } : {}) },
    data: Object.fromEntries(
      Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    ),
  };
}
