import { SecretValues } from '../../src/admin/secret-values';
import { emptySnapshot, type ApiSnapshot } from '../../src/api/snapshot';
import type { Secret } from '../../src/api/types';

function secret(name: string, type: string, data: Record<string, string>): Secret {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Secret',
    metadata: { name, namespace: 'default' },
    type,
    data,
  };
}

function valuesOf(snapshot: ApiSnapshot): SecretValues {
  const values = new SecretValues();
  values.update(snapshot);
  return values;
}

describe('SecretValues', () => {
  it("hides Secrets' data but a TLS certificate chain and root CA, which are public", () => {
    const snapshot = emptySnapshot();
    snapshot.secrets.set(
      'default/tls',
      secret('tls', 'tls', { certChain: 'CERT-CHAIN', rootCa: 'ROOT-CA', privateKey: 'PRIVATE-KEY' }),
    );
    snapshot.secrets.set(
      'default/aws',
      secret('aws', 'aws', { accessKeyId: 'AKIA1234', secretAccessKey: 's3cr3t/KEY' }),
    );
    expect(valuesOf(snapshot).redact('CERT-CHAIN ROOT-CA PRIVATE-KEY AKIA1234 s3cr3t/KEY')).toBe(
      'CERT-CHAIN ROOT-CA [redacted] [redacted] [redacted]',
    );
  });

  it('hides the private key inside a service-account JSON key on its own too', () => {
    const snapshot = emptySnapshot();
    const key = { type: 'service_account', private_key: 'PEM-KEY-BODY', client_email: 'sa@p.iam.example' };
    snapshot.secrets.set('default/gcp', secret('gcp', 'gcp', { serviceAccount: JSON.stringify(key) }));
    expect(valuesOf(snapshot).redact('key PEM-KEY-BODY of sa@p.iam.example')).toBe(
      'key [redacted] of sa@p.iam.example',
    );
  });

  it('hides discovered function keys and minted ID tokens, with or without their scheme', () => {
    const snapshot: ApiSnapshot = {
      ...emptySnapshot(),
      discovered: new Map([
        [
          'default/orders',
          {
            discoverer: 'azure-functions',
            functions: [{ functionName: 'hello', secrets: { functionKey: 'FUNCTION-KEY' } }],
            updatedAt: '2024-01-01T00:00:00Z',
          },
        ],
      ]),
      identityTokens: new Map([['sa https://f.example', { header: 'Bearer ID.TOKEN.VALUE', expiresAt: 0 }]]),
    };
    expect(valuesOf(snapshot).redact('FUNCTION-KEY, Bearer ID.TOKEN.VALUE, ID.TOKEN.VALUE')).toBe(
      '[redacted], [redacted], [redacted]',
    );
  });

  it('hides a secret that contains another whole, and leaves values too short to search for', () => {
    const snapshot = emptySnapshot();
    snapshot.secrets.set(
      'default/a',
      secret('a', 'generic', { short: 'abc', inner: 'token', outer: 'token-plus' }),
    );
    expect(valuesOf(snapshot).redact('abc token-plus token')).toBe('abc [redacted] [redacted]');
  });

  it('forgets values that are gone', () => {
    const values = new SecretValues();
    const snapshot = emptySnapshot();
    snapshot.secrets.set('default/a', secret('a', 'generic', { key: 'OLD-VALUE' }));
    values.update(snapshot);
    values.update(emptySnapshot());
    expect(values.redact('OLD-VALUE')).toBe('OLD-VALUE');
  });
});
