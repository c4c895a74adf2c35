import type { LambdaApiServer } from './lambda-api-server';

/** YAML for an aws Secret `aws-creds` and an aws Upstream `aws-east` pointing at a loopback Lambda API. */
export function awsUpstreamYaml(lambda: LambdaApiServer): string {
  const { accessKeyId, secretAccessKey } = lambda.credentials();
  return `
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: aws-creds, namespace: default}
type: aws
data: {accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}"}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: aws-east, namespace: default}
spec: {aws: {region: us-east-2, endpoint: "${lambda.endpoint()}", secretRef: {name: aws-creds, namespace: default}}}
`;
}
