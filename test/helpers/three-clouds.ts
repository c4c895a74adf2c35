import { AZURE_DISCOVERER } from '../../src/api/azure';
import { createAzureFunctionsDiscoverer } from '../../src/discovery/fds/azure-functions';
import type { FunctionDiscoverer } from '../../src/discovery/fds/discoverer';
import { DISCOVERERS } from '../../src/discovery/fds/registry';
import { awsUpstreamYaml } from './aws-config';
import { AzureArmServer } from './azure-arm-server';
import { GcfApiServer, type FunctionFixture } from './gcf-api-server';
import { gcpUpstreamYaml } from './gcf-config';
import { LambdaApiServer } from './lambda-api-server';
import { virtualService } from './translate-yaml';

/** The Cloud Function behind /gcf/hello: 2nd gen, requires authentication. */
export const GCF_HELLO: FunctionFixture = {
  project: 'shop',
  region: 'us-central1',
  name: 'hello',
  generation: 2,
};
export const GCF_SERVICE_ACCOUNT = 'gateway@shop.iam.gserviceaccount.com';
/** The Azure function app and its function-level function behind /azure/hello. */
export const AZURE_APP = 'orders';
export const AZURE_FUNCTION = 'hello';
/** The Lambda function behind /lambda, as its version 1 (the first one published). */
export const LAMBDA_FUNCTION = 'hello-world';

/**
 * Loopback Lambda (+ STS), Cloud Functions (+ OAuth token endpoint) and Resource Manager (+ Entra ID)
 * APIs, each holding the one function the three-cloud gateway routes to, and the config that routes
 * `/gcf/hello`, `/azure/hello` and `/lambda` to them from one VirtualService.
 */
export class ThreeClouds {
  readonly lambda = new LambdaApiServer({ region: 'us-east-2', accountId: '123456789012' });
  readonly gcf = new GcfApiServer();
  readonly azure = new AzureArmServer();
  private serviceAccountKey = '';

  async start(): Promise<void> {
    await Promise.all([this.lambda.start(), this.gcf.start(), this.azure.start()]);
    this.lambda.addFunction(LAMBDA_FUNCTION);
    this.lambda.publishVersion(LAMBDA_FUNCTION);
    this.gcf.addFunction(GCF_HELLO);
    this.serviceAccountKey = this.gcf.createServiceAccount(GCF_SERVICE_ACCOUNT);
    this.azure.addFunctionApp(AZURE_APP, { resourceGroup: 'shop' });
    this.azure.addFunction(AZURE_APP, AZURE_FUNCTION);
  }

  async stop(): Promise<void> {
    await Promise.all([this.lambda.stop(), this.gcf.stop(), this.azure.stop()]);
  }

  /**
   * The registry's discoverers, with Azure's trusting the loopback Resource Manager's test certificate
   * (what NODE_EXTRA_CA_CERTS does for `sluice serve`).
   */
  discoverers(): FunctionDiscoverer[] {
    const azure = createAzureFunctionsDiscoverer({ trustedCa: this.azure.caCertificate() });
    return DISCOVERERS.map((discoverer) => (discoverer.name === AZURE_DISCOVERER ? azure : discoverer));
  }

  /** The three secrets and upstreams, and one VirtualService routing to a function of each. */
  configYaml(): string {
    const { tenantId, clientId, clientSecret } = this.azure.credentials();
    const azure = [
      `subscriptionId: ${this.azure.subscriptionId}`,
      `functionAppName: ${AZURE_APP}`,
      'resourceGroup: shop',
      `managementEndpoint: "${this.azure.endpoint()}"`,
      `authorityHost: "${this.azure.endpoint()}"`,
      'secretRef: {name: azure-creds}',
    ];
    return `${awsUpstreamYaml(this.lambda)}---${gcpUpstreamYaml(
      this.serviceAccountKey,
      `apiEndpoint: "${this.gcf.endpoint()}", secretRef: {name: gcp-key}`,
    )}---
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: azure-creds, namespace: default}
type: azure
data: {tenantId: ${tenantId}, clientId: ${clientId}, clientSecret: "${clientSecret}"}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: ${AZURE_APP}, namespace: default}
spec: {azure: {${azure.join(', ')}}}
${virtualService(`
    - matchers: [{prefix: /gcf/hello}]
      routeAction: {single: {upstream: {name: gcf}, function: ${GCF_HELLO.name}}}
    - matchers: [{prefix: /azure/hello}]
      routeAction: {single: {upstream: {name: ${AZURE_APP}}, function: ${AZURE_FUNCTION}}}
    - matchers: [{prefix: /lambda}]
      routeAction: {single: {upstream: {name: aws-east}, function: "${LAMBDA_FUNCTION}:1"}}`)}`;
  }
}
