import { createPublicKey } from 'crypto';

/**
 * Fake credentials, made for leak tests and used nowhere real (the keys were generated for this file).
 * The values hold no character JSON, YAML or a URL would escape, so a leak shows as the value itself,
 * and no two share 16 characters in a row, so a leak names the right one.
 */
export const TEST_SECRETS = {
  awsSecretAccessKey: 'SluiceLeakTest1AwsSecretAccessKey7Kq2Zt9x',
  awsSessionToken: 'SluiceLeakTest2AwsSessionToken0IQoJb3JpZ2luX2VjEXAMPLEzZ9mQwLk0a8VfR2',
  azureClientSecret: 'SluiceLeakTest3AzureClientSecret4Hq8Zp1Wv6Tm',
  azureFunctionKey: 'SluiceLeakTest4AzureFunctionKey0qP3rV8sT2uW9xY4zA1bC6dE',
  genericSecret: 'SluiceLeakTest5GenericSecret9fK2mQ7vX3nB5',
  /** RSA, PKCS#8: the `private_key` of TEST_GCP_SERVICE_ACCOUNT. */
  gcpPrivateKey: `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDaT8xmUmLoygFP
S3XRWbqR1//jC9aXoARwaXSL+JKnRuTjE6T0s0XipPONWWzDF5sDbKSX0zrkVyGA
gQPathDhfvaAJu0xFEBmoaLSGH3380sF6LcuMeztKIR8fI4awBkOHKQpBaeo6yLC
UnI3WICXgBrJkqfgWPkKXuUlDRUwMYBkVtsML9SsWRU4DCZ7xEUZ5jqFVMjZdnF0
CgaUsH6xajusf7p4Z0qhmbo0w1NAfCoeRpzWrHizQUgW+BZ7wgzTfCOpB+eWEJj3
D6eW/vvpUDPYnIA50B6M2GgXC17WggMsLRgxHTOLtjuzeW3GX3A3sJZ1xvhzju8T
bO5UUfufAgMBAAECggEAZ+8vz9MPVea+QuMZH2dJpJ+iKpT7QEqlcmMyYmUgZNUi
qV0z3m/vKJ0Bet0FI8h8O2Ag6EtfMVCuGYDStfCSDtkkQBTIPeJ3WqU/YCja6A4D
PLfzZeHM+4ebs6yU9vVXuFk4anNPw+LWNI+N4v2WkwohNrBEjlGtlxtgmogk+0Dk
S+lWZUc84e8zZfaigkZeETHrw7aslBMop+qUHh3bgQ1KbTHWFtL33Fj1N0AABgCV
kRAmmbterI05T23d5X5GRVD8tVLgtyea49wT54RST3FmuFzT9At9BuL+FIX8+vkl
7qf7fIpy+xGiSBz1BQ/tEz8CeuX/RfudVBRuQRdJ+QKBgQD9YmeedZL3zPPBCqEs
ad+8eWY6/bMNxojWpVRLNaKWbCBo5v0662lB2SAyyC5dVa9XT1+NR7ZkDqDuw52O
81XBmRAFcaINZAyBNbrgA4NIOksd9gMd8G4UbTY9v68oOb+UHbr0Ek4/MnAZxUGf
EepxLr5U8IroMuWysLPaNhYYewKBgQDckLXbhyZK/zauciyj/k8HsOsDubohL3/o
aqqB4/ktPdLZTouWP4m1VC4yDQKEl3EfCMgyY5lJ2i4r0OlGZlSVb7X4RkjuCuzl
s6M0ITqGG4ou+Cg0E/DpB7+6UOTrLVg24zT4/95PSYYWKrXj+MVrUCnx0bM2j67c
oyp7xiqqLQKBgA/MMNWqUu1sM85XUVEpkK95iiwnYSB8vk9To3vE7kwela60qBki
UD+wv9cqr+lVzEbPRg/S5sY6O0Jno80j0rbtShhsy0O2dykfJnWNAoRgTgqiKfOV
5+cSIA2dg9goMY+UgvFwqrw58s9IgxzdyxYfafJ1xNNRSQzpA22Zbas9AoGAfuIM
jAY6ZChfB4mM3qZcRltjRxhf19lgZo5+GgzQelM3aWVC7aMNkC+mB4ruaOJJ5AWE
TWB4fUCzEOe0WphhjjneX73nFHFaiGWHvGRlK2LKYmzFi/fwvc2EYSVKG3RRa/nW
rmtbMxdjuHrHeibRQwOxrXfp9bhAapK+zMdaId0CgYEAy5e/USiKyxnbsMCLg65c
gO7Qhtossip9dofRmZPc7D7ACOQ/hcbvF7xP87rwGV9WQqQh10wxKbIfXvL1r5g/
m7QE3/FcmQ78UIpd4qqI9x2IzdoUhUdo2QwbS4qSPh3UG7xhJZfpAOQ3j++20C49
7wNIF9KtGsT8avvIEOjKxCg=
-----END PRIVATE KEY-----
`,
  /** EC P-256, PKCS#8: the key of TEST_TLS_CERTIFICATE. */
  tlsPrivateKey: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggcD4QAj83QHeG1cT
K70mMZ9QHwJsCk+njIuTwnNljm+hRANCAARl54x6qz+6Z8UTohGcxhDkcZxdpneu
q3+FApWCm9LIyxrvw8vkcXh+tN8XLUneWt0aoDmPKLhwsmQb4CnDjRzw
-----END PRIVATE KEY-----
`,
};

/** Not secret: the key id that goes with awsSecretAccessKey. */
export const TEST_AWS_ACCESS_KEY_ID = 'AKIASLUICELEAKTEST01';

/** Public: the self-signed certificate for secure.sluice.test that goes with tlsPrivateKey. */
export const TEST_TLS_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIBrzCCAVagAwIBAgIUHasz3M5IU+TWSNkCxzAVzoIPQ2AwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSc2VjdXJlLnNsdWljZS50ZXN0MCAXDTI2MTEyNzA2MDMwNVoY
DzIxMjYxMTAzMDYwMzA1WjAdMRswGQYDVQQDDBJzZWN1cmUuc2x1aWNlLnRlc3Qw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARl54x6qz+6Z8UTohGcxhDkcZxdpneu
q3+FApWCm9LIyxrvw8vkcXh+tN8XLUneWt0aoDmPKLhwsmQb4CnDjRzwo3IwcDAd
BgNVHQ4EFgQUusBhWiMN1qyicS7689ZnIzZOn8IwHwYDVR0jBBgwFoAUusBhWiMN
1qyicS7689ZnIzZOn8IwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHREEFjAUghJzZWN1
cmUuc2x1aWNlLnRlc3QwCgYIKoZIzj0EAwIDRwAwRAIgJsAj/4jHk7Q0x60SHYCu
bxRQlASdIoOHe3bjguzh56MCIBJK135JVv2GIk4cHES0xpeyis4k4ZbRXe724+/I
bmbw
-----END CERTIFICATE-----
`;

/** A service-account JSON key around gcpPrivateKey; `tokenUri` is where google-auth-library trades it. */
export function testGcpServiceAccount(tokenUri: string): string {
  return JSON.stringify({
    type: 'service_account',
    project_id: 'shop',
    private_key_id: 'b3c1f0e5d2a4968877665544332211ffeeddccbb',
    private_key: TEST_SECRETS.gcpPrivateKey,
    client_email: 'leak-test@shop.iam.gserviceaccount.com',
    client_id: '1234567890',
    token_uri: tokenUri,
  });
}

/** A leak this long is found wherever it sits inside a value (a line of a PEM body, say). */
const WINDOW = 16;

function windows(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    for (let start = 0; start + WINDOW <= line.length; start++) out.push(line.slice(start, start + WINDOW));
  }
  return out;
}

/**
 * The base64 of `value` at each of the three alignments it can have inside a longer encoded text, only
 * the characters (6 bits each) made of its own bytes.
 */
function base64Forms(value: string): string[] {
  return [0, 1, 2].map((offset) => {
    const bits = 8 * (offset + Buffer.byteLength(value));
    const encoded = Buffer.concat([Buffer.alloc(offset), Buffer.from(value)]).toString('base64');
    return encoded.slice(Math.ceil((8 * offset) / 6), Math.floor(bits / 6));
  });
}

/** What public material shares with the keys (a certificate holds its public key, as the private key does). */
function publicWindows(extraPublic: readonly string[]): Set<string> {
  const publicKeys = [TEST_SECRETS.gcpPrivateKey, TEST_SECRETS.tlsPrivateKey].map((pem) =>
    createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString(),
  );
  return new Set([TEST_TLS_CERTIFICATE, ...publicKeys, ...extraPublic].flatMap(windows));
}

/**
 * Finds secret values in text: any 16 characters in a row of a value (one line of it, for PEM), as is,
 * URL-encoded or base64-encoded. `extraSecrets` adds values a test only learns at run time (keys and
 * tokens a loopback cloud API made).
 */
export class SecretScanner {
  private readonly owners = new Map<string, string>();

  constructor(extraSecrets: Record<string, string> = {}, extraPublic: readonly string[] = []) {
    const shared = publicWindows(extraPublic);
    for (const [name, value] of Object.entries({ ...TEST_SECRETS, ...extraSecrets })) {
      for (const form of [value, encodeURIComponent(value), ...base64Forms(value)]) {
        for (const window of windows(form)) if (!shared.has(window)) this.owners.set(window, name);
      }
    }
  }

  /** The secrets `text` holds a piece of: each one's name, with where it first shows (fake values: safe to print). */
  leaks(text: string): string[] {
    const found = new Map<string, number>();
    for (let start = 0; start + WINDOW <= text.length; start++) {
      const owner = this.owners.get(text.slice(start, start + WINDOW));
      if (owner && !found.has(owner)) found.set(owner, start);
    }
    return [...found].map(
      ([owner, start]) => `${owner} in ${JSON.stringify(text.slice(Math.max(0, start - 60), start + 40))}`,
    );
  }
}
