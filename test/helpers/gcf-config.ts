/**
 * Config YAML for GCP tests: a gcp Secret `gcp-key` holding the service-account key, and an Upstream
 * `gcf` for project shop with the `gcp` fields given (flow-style YAML, e.g. `secretRef: {name: gcp-key}`).
 */
export function gcpUpstreamYaml(serviceAccount: string, gcp: string): string {
  return `
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: gcp-key, namespace: default}
type: gcp
data: {serviceAccount: ${JSON.stringify(serviceAccount)}}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: gcf, namespace: default}
spec: {gcp: {project: shop, ${gcp}}}
`;
}
