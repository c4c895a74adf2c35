/**
 * YAML of a `tls` Secret `default/cert` holding `certChain` and `privateKey`, an `ssl` Gateway on 8443,
 * and a VirtualService `secure` (secure.example -> the upstream petstore) served with that certificate.
 */
export function tlsGatewayYaml(certChain: string, privateKey: string): string {
  return `
---
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: cert, namespace: default}
type: tls
data: {certChain: ${certChain}, privateKey: ${privateKey}}
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: https, namespace: default}
spec: {bindPort: 8443, ssl: true}
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: secure, namespace: default}
spec: {sslConfig: {secretRef: {name: cert}}, virtualHost: {domains: [secure.example], routes: [{routeAction: {single: {upstream: {name: petstore}}}}]}}
`;
}
