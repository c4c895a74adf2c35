import { DEFAULT_NAMESPACE } from '../../api/resource';
import { nameKey } from '../../api/snapshot';
import type { Logger } from '../../logger';
import { stableStringify } from '../memory-store';
import type { BackoffOptions } from './backoff';
import { Informer } from './informer';
import type { KubeClient, KubeObject } from './kube-client';
import { PODS } from './resource-types';

export type Labels = Readonly<Record<string, string>>;

const NO_LABELS: Labels = Object.freeze({});

export interface PodLabelsOptions {
  client: KubeClient;
  /** Namespaces to watch; all when absent. */
  namespaces?: readonly string[];
  logger: Logger;
  backoff?: BackoffOptions;
  pageSize?: number;
}

/** Pods are the most numerous and largest objects of a cluster: the copy keeps their labels only. */
function labelsOnly(pod: KubeObject): KubeObject {
  const { name, namespace, resourceVersion, labels } = pod.metadata;
  return { metadata: { name, namespace, resourceVersion, ...(labels ? { labels } : {}) } };
}

function sameLabels(a: KubeObject | undefined, b: KubeObject): boolean {
  return stableStringify(a?.metadata.labels ?? NO_LABELS) === stableStringify(b.metadata.labels ?? NO_LABELS);
}

/**
 * The labels of every Pod in the watched namespaces (list + watch), which `kube` upstreams with a
 * `selector` choose endpoints by. Pods change often (their status); listeners hear only of a Pod that
 * appears, goes, or gets other labels.
 */
export class PodLabels {
  private readonly informer: Informer<KubeObject>;

  constructor(options: PodLabelsOptions) {
    this.informer = new Informer({ ...options, type: PODS, keep: labelsOnly });
  }

  start(): void {
    this.informer.start();
  }

  stop(): void {
    this.informer.stop();
  }

  whenSynced(): Promise<void> {
    return this.informer.whenSynced();
  }

  /** The labels of the Pod `namespace/name`; undefined while Sluice does not know the Pod. */
  get(namespace: string, name: string): Labels | undefined {
    const pod = this.informer.get(namespace, name);
    return pod && (pod.metadata.labels ?? NO_LABELS);
  }

  /** Calls `listener` with `namespace/name` of a Pod that appeared, went, or got other labels. */
  onChange(listener: (pod: string) => void): () => void {
    return this.informer.on((event, pod, previous) => {
      if (event === 'modified' && sameLabels(previous, pod)) return;
      listener(nameKey(pod.metadata.namespace ?? DEFAULT_NAMESPACE, pod.metadata.name));
    });
  }
}
