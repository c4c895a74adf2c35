/**
 * Core Secrets of type `kubernetes.io/tls` (what `kubectl create secret tls` and cert-manager make) are
 * Sluice `tls` Secrets without a label: their standard keys are the Sluice keys under other names.
 */

export const KUBE_TLS_SECRET_TYPE = 'kubernetes.io/tls';

/** Sluice `tls` Secret keys by the `kubernetes.io/tls` key that holds the same thing. */
const SLUICE_KEY_OF_KUBE_KEY: Readonly<Record<string, string>> = {
  'tls.crt': 'certChain',
  'tls.key': 'privateKey',
  'ca.crt': 'rootCa',
};

const KUBE_KEY_OF_SLUICE_KEY: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(SLUICE_KEY_OF_KUBE_KEY).map(([kube, sluice]) => [sluice, kube]),
);

/** The data of a `kubernetes.io/tls` Secret under the Sluice keys; other keys are kept as they are. */
export function toSluiceTlsKeys(data: Record<string, string>): Record<string, string> {
  return renameKeys(data, SLUICE_KEY_OF_KUBE_KEY);
}

/** The inverse of `toSluiceTlsKeys`: what a `kubernetes.io/tls` Secret must hold when Sluice writes it. */
export function toKubeTlsKeys(data: Record<string, string>): Record<string, string> {
  return renameKeys(data, KUBE_KEY_OF_SLUICE_KEY);
}

function renameKeys(
  data: Record<string, string>,
  names: Readonly<Record<string, string>>,
): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [names[key] ?? key, value]));
}
