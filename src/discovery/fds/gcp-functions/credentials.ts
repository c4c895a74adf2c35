import { JWT } from 'google-auth-library';
import { GOOGLE_TOKEN_URI, type ServiceAccountKey } from '../../../api/gcp';

/**
 * An auth client that signs as the service account (google-auth-library, the version
 * @google-cloud/functions uses). The Node library always posts to Google's token URI; this client honours
 * the key's `token_uri` as Google's Python and Go libraries do, which private endpoints and tests need.
 */
export function serviceAccountClient(key: ServiceAccountKey): JWT {
  const client = new JWT({ email: key.clientEmail, key: key.privateKey, keyId: key.privateKeyId });
  if (key.tokenUri !== GOOGLE_TOKEN_URI) {
    const tokenUri = new URL(key.tokenUri);
    client.transporter.interceptors.request.add({
      resolved: async (options) =>
        String(options.url) === GOOGLE_TOKEN_URI ? { ...options, url: tokenUri } : options,
    });
  }
  return client;
}
