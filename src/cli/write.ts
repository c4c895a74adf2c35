import { stringify } from 'yaml';
import { API_VERSION, type Resource } from '../api/resource';
import { parseResource } from '../api/validate';
import { ConflictError } from '../store/store';
import { UserError } from './errors';
import { openStore } from './offline';

export interface WriteOptions {
  configDir: string;
  dryRun?: boolean;
}

export function newResource(
  kind: Resource['kind'],
  name: string,
  namespace: string,
  body: Partial<Resource>,
): Resource {
  return { apiVersion: API_VERSION, kind, metadata: { name, namespace }, ...body };
}

/**
 * Validates and writes one resource through the file store (atomic, and refused when the file changed
 * since it was read), or prints it with --dry-run. Secrets' values are never printed.
 */
export async function writeResource(
  resource: Resource,
  options: WriteOptions,
  expectedResourceVersion?: string,
): Promise<void> {
  const parsed = parseResource(structuredClone(resource));
  if (!parsed.resource) {
    throw new UserError(
      `the ${resource.kind} would be invalid:\n${parsed.errors.map((error) => `  - ${error}`).join('\n')}`,
    );
  }
  if (options.dryRun) {
    const shown =
      resource.kind === 'Secret'
        ? {
            ...resource,
            data: Object.fromEntries(Object.keys(resource.data ?? {}).map((k) => [k, '<redacted>'])),
          }
        : resource;
    process.stdout.write(stringify(shown, { lineWidth: 0 }));
    return;
  }
  const store = openStore(options.configDir);
  try {
    await store.apply(resource, expectedResourceVersion);
  } catch (error) {
    if (error instanceof ConflictError) {
      throw new UserError(
        `${resource.kind} ${resource.metadata.namespace}/${resource.metadata.name} changed while sluice was writing it; run the command again`,
      );
    }
    throw error;
  } finally {
    await store.close();
  }
  process.stdout.write(
    `${resource.kind.toLowerCase()} ${resource.metadata.namespace}/${resource.metadata.name} written to ${options.configDir}\n`,
  );
}
