import { Informer, type InformerListener, type InformerOptions, type ObjectCache } from './informer';
import type { KubeObject } from './kube-client';
import { SECRET_TYPE_LABEL } from './mapping';
import { SECRETS } from './resource-types';
import { KUBE_TLS_SECRET_TYPE } from './tls-secrets';

export type SluiceSecretsInformerOptions = Omit<
  InformerOptions,
  'type' | 'labelSelector' | 'fieldSelector' | 'keep'
>;

/**
 * The core Secrets that are Sluice Secrets, read as one copy: those labelled `sluice.dev/secret-type`,
 * and unlabelled ones of type `kubernetes.io/tls`. A list cannot ask for "this label or that type", so
 * each is its own informer; the selections never overlap (the second excludes the label), and only these
 * Secrets are ever sent to Sluice or held in memory.
 */
export class SluiceSecretsInformer implements ObjectCache<KubeObject> {
  private readonly parts: ReadonlyArray<Informer<KubeObject>>;

  constructor(options: SluiceSecretsInformerOptions) {
    this.parts = [
      new Informer({ ...options, type: SECRETS, labelSelector: SECRET_TYPE_LABEL }),
      new Informer({
        ...options,
        type: SECRETS,
        labelSelector: `!${SECRET_TYPE_LABEL}`,
        fieldSelector: `type=${KUBE_TLS_SECRET_TYPE}`,
      }),
    ];
  }

  start(): void {
    for (const part of this.parts) part.start();
  }

  stop(): void {
    for (const part of this.parts) part.stop();
  }

  async whenSynced(): Promise<void> {
    await Promise.all(this.parts.map((part) => part.whenSynced()));
  }

  get hasSynced(): boolean {
    return this.parts.every((part) => part.hasSynced);
  }

  get(namespace: string, name: string): KubeObject | undefined {
    for (const part of this.parts) {
      const found = part.get(namespace, name);
      if (found) return found;
    }
    return undefined;
  }

  list(): KubeObject[] {
    return this.parts.flatMap((part) => part.list());
  }

  on(listener: InformerListener<KubeObject>): () => void {
    const stops = this.parts.map((part) => part.on(listener));
    return () => stops.forEach((stop) => stop());
  }
}
