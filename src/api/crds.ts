import { stringify } from 'yaml';
import { apiType } from './api-protos';
import type { Kind } from './resource';
import { messageSchema, SPEC_MESSAGES } from './schema';

export const API_GROUP = 'sluice.dev';

type CrdKind = keyof typeof SPEC_MESSAGES;

const NAMES: Record<CrdKind, { plural: string; shortNames: string[] }> = {
  Upstream: { plural: 'upstreams', shortNames: ['us'] },
  VirtualService: { plural: 'virtualservices', shortNames: ['vs'] },
  RouteTable: { plural: 'routetables', shortNames: ['rt'] },
  Gateway: { plural: 'gateways', shortNames: ['gw'] },
  Settings: { plural: 'settings', shortNames: [] },
};

/** The CustomResourceDefinition of one kind, with a structural schema generated from protos/. */
export function crdFor(kind: CrdKind): Record<string, unknown> {
  const { plural, shortNames } = NAMES[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      scope: 'Namespaced',
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
        ...(shortNames.length ? { shortNames } : {}),
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [{ name: 'Status', type: 'string', jsonPath: '.status.state' }],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: messageSchema(apiType(SPEC_MESSAGES[kind]), 'crd'),
                status: messageSchema(apiType('Status'), 'crd'),
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}

export const CRD_KINDS = Object.keys(SPEC_MESSAGES) as CrdKind[];

/** kustomization.yaml in crds/: what lets install/kustomization.yaml take the CRDs from crds/. */
export const CRD_KUSTOMIZATION = 'kustomization.yaml';

/** File name -> YAML text of every CRD, and the kustomization that lists them, as committed under crds/. */
export function renderCrds(): Map<string, string> {
  const files = new Map<string, string>();
  const header = '# Generated from protos/ by `npm run gen:crds`; do not edit.\n';
  for (const kind of CRD_KINDS) {
    files.set(
      `${NAMES[kind].plural}.${API_GROUP}.yaml`,
      header + stringify(crdFor(kind), { aliasDuplicateObjects: false }),
    );
  }
  // Kustomize reads no file outside a kustomization's directory, but it does read another kustomization.
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [...files.keys()].sort(),
  };
  files.set(CRD_KUSTOMIZATION, header + stringify(kustomization));
  return files;
}

export function isCrdKind(kind: Kind): kind is CrdKind {
  return kind in SPEC_MESSAGES;
}
