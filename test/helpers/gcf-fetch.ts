/**
 * gaxios (under google-auth-library and @google-cloud/functions) loads node-fetch with a dynamic
 * `import()`, which jest's CommonJS sandbox refuses without --experimental-vm-modules. Inside jest it is
 * handed Node's own fetch the way it takes a browser's, through `window.fetch`; nothing else reads that
 * `window` (crypto, transport and retries are chosen by other means). The CLI tests run the real bin, where
 * node-fetch loads as it does in production.
 */
export function giveGaxiosNodeFetch(): void {
  (globalThis as { window?: unknown }).window = { fetch: globalThis.fetch };
}
