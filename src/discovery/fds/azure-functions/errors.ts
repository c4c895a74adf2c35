/** Where the credentials came from, so that a message can say what to change. */
export interface CredentialSource {
  /** `namespace/name` of the azure Secret; absent: the SDK's default credential chain. */
  secret?: string;
  tenantId?: string;
  authorityHost: string;
}

/** Entra ID (AADSTS) error codes whose fix is one field of the secret or of the upstream. */
const ENTRA_FIXES: Record<string, (source: CredentialSource) => string> = {
  '90002': (source) => `check tenantId${inSecret(source)} and spec.azure.authorityHost`,
  '700016': (source) => `check clientId${inSecret(source)}, and that the app is registered in that tenant`,
  '7000215': (source) => `check clientSecret${inSecret(source)} (the secret's value, not its id)`,
  '7000222': (source) =>
    `the client secret has expired: create a new one and update clientSecret${inSecret(source)}`,
  '500011': () => 'check spec.azure.managementEndpoint (it must be the Resource Manager of the same cloud)',
};

/** What @azure/identity throws when a credential (or every credential of a chain) has nothing to offer. */
const UNAVAILABLE = ['CredentialUnavailableError', 'AggregateAuthenticationError'];

/** ARM status codes whose fix does not depend on the message. */
const ARM_FIXES: Record<number, string> = {
  401: 'Resource Manager refused the token: check spec.azure.managementEndpoint and spec.azure.authorityHost (same cloud)',
  403: 'grant the service principal a role on the subscription or resource group: Reader lists apps and functions; reading keys needs Microsoft.Web/sites/host/listkeys/action and Microsoft.Web/sites/functions/listkeys/action (e.g. Website Contributor), or set keySecretRef on the functions',
};

function inSecret(source: CredentialSource): string {
  return source.secret
    ? ` in Secret ${source.secret}`
    : ' (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)';
}

/** An Entra ID error description without its trace id, correlation id and timestamp, which change every time. */
function entraDescription(message: string): { code: string; text: string } | undefined {
  const match = /AADSTS(\d+): (.*?)(?= Trace ID:| - Correlation ID:|$)/s.exec(message);
  return match ? { code: match[1], text: `AADSTS${match[1]}: ${match[2].trim()}` } : undefined;
}

/**
 * A discovery failure in words fit for the upstream's status: stable from one poll to the next (no
 * request ids or timestamps) and ending with what to fix where that is known. Never contains a key.
 */
export function describeAzureError(error: unknown, source: CredentialSource): string {
  const failure = error as { name?: string; message?: string; code?: string; statusCode?: number };
  const message = failure.message ?? String(error);
  const entra = entraDescription(message);
  if (entra) {
    const fix = ENTRA_FIXES[entra.code]?.(source);
    return `Microsoft Entra ID refused the credentials: ${entra.text}${fix ? `; ${fix}` : ''}`;
  }
  if (message.includes('endpoints_resolution_error')) {
    return (
      `Microsoft Entra ID at ${source.authorityHost} has no tenant ${source.tenantId ?? '(default)'} ` +
      `(its OpenID configuration could not be read): check tenantId${inSecret(source)} and spec.azure.authorityHost`
    );
  }
  if (failure.statusCode) {
    const fix = ARM_FIXES[failure.statusCode];
    const code = failure.code ? `${failure.code}: ` : '';
    return `${code}${message} (HTTP ${failure.statusCode})${fix ? `; ${fix}` : ''}`;
  }
  // Without a secret every credential of the default chain was tried; none had anything to offer.
  if (!source.secret && UNAVAILABLE.includes(failure.name ?? '')) {
    return (
      'no Azure credentials: the default credential chain (environment, workload identity, managed identity, ' +
      'Azure CLI) found none; set spec.azure.secretRef to an azure Secret (sluice create secret azure)'
    );
  }
  return message;
}
