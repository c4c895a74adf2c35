import { keyOf, keyString, type Resource, type ResourceKey } from './resource';
import { snapshotOf, type ApiSnapshot } from './snapshot';
import { parseResource } from './validate';
import type { DiscoveredMap } from '../discovery/fds/discovered';
import type { SourceLocation, StoreContents } from '../store/store';
import { Reports } from '../translator/reports';

export function describeLocation(location: SourceLocation): string {
  if (!location.file) return '';
  return location.line ? `${location.file}:${location.line}` : location.file;
}

function at(location: SourceLocation): string {
  const where = describeLocation(location);
  return where ? ` (${where})` : '';
}

/** A problem that belongs to no resource (a file whose YAML does not parse far enough to name one). */
export interface FileProblem {
  file: string;
  message: string;
}

export interface LoadedSnapshot {
  snapshot: ApiSnapshot;
  reports: Reports;
  fileProblems: FileProblem[];
  /** The valid resources, by keyString. */
  valid: Map<string, Resource>;
  /** Where each valid resource came from, by keyString. */
  locations: Map<string, SourceLocation>;
  /** Every document that names a resource, valid or not (the first definition of a key), by keyString. */
  documents: Map<string, Resource>;
}

/**
 * Parsed resources by keyString and the resourceVersion they were parsed from: an unchanged document is
 * not validated again, and keeps its identity (which incremental translation relies on).
 */
export type ParseCache = Map<string, { version: string; resource: Resource }>;

function parseCached(
  document: Resource,
  id: string,
  cache: ParseCache | undefined,
): ReturnType<typeof parseResource> {
  const version = document.metadata?.resourceVersion;
  const cached = version ? cache?.get(id) : undefined;
  if (cached && cached.version === version) return { resource: cached.resource, errors: [] };
  const parsed = parseResource(document);
  if (parsed.resource && version) cache?.set(id, { version, resource: parsed.resource });
  else cache?.delete(id);
  return parsed;
}

export interface AcceptedResource {
  resource: Resource;
  location: SourceLocation;
}

/**
 * Store contents -> the snapshot of valid resources, with every problem reported on the resource it
 * belongs to: schema errors (naming the field), YAML errors (file and line), duplicate definitions.
 * `lastGood` (by keyString) stands in for a resource whose current version is invalid, or that vanished
 * because its file no longer parses, so that a bad edit never takes working config away; the resource
 * is still reported Rejected.
 */
export function loadSnapshot(
  contents: StoreContents,
  lastGood: ReadonlyMap<string, AcceptedResource> = new Map(),
  discovered: DiscoveredMap = new Map(),
  parseCache?: ParseCache,
): LoadedSnapshot {
  const reports = new Reports();
  const fileProblems: FileProblem[] = [];
  const seen = new Map<string, SourceLocation>();
  const valid = new Map<string, Resource>();
  const locations = new Map<string, SourceLocation>();
  const serving = new Map<string, Resource>();
  const documents = new Map<string, Resource>();
  const reject = (key: ResourceKey, message: string): void => {
    const id = keyString(key);
    const fallback = lastGood.get(id);
    reports.error(key, fallback ? `${message}; still serving the last accepted version` : message);
    if (fallback) {
      serving.set(id, fallback.resource);
      reports.tolerateErrors(key);
    } else serving.delete(id);
  };
  const brokenFiles = new Map<string, string>();
  for (const error of contents.errors) {
    if (error.location.file) brokenFiles.set(error.location.file, `${error.message}${at(error.location)}`);
    if (error.key) reject(error.key, `${error.message}${at(error.location)}`);
    else fileProblems.push({ file: describeLocation(error.location) || '(unknown)', message: error.message });
  }
  for (const { resource, location } of contents.resources) {
    const raw = resource as unknown as { kind?: string; metadata?: { name?: string; namespace?: string } };
    const key = {
      kind: raw.kind,
      namespace: raw.metadata?.namespace || 'default',
      name: raw.metadata?.name ?? '',
    } as ResourceKey;
    const id = keyString(key);
    const earlier = seen.get(id);
    if (earlier) {
      valid.delete(id);
      reject(
        key,
        `defined twice: ${describeLocation(earlier) || 'first definition'} and ${describeLocation(location) || 'second definition'}; keep one`,
      );
      continue;
    }
    seen.set(id, location);
    documents.set(id, resource);
    const parsed = parseCached(resource, id, parseCache);
    if (!parsed.resource) {
      for (const message of parsed.errors) reject(key, `${message}${at(location)}`);
      continue;
    }
    reports.track(keyOf(parsed.resource));
    valid.set(id, parsed.resource);
    locations.set(id, location);
    serving.set(id, parsed.resource);
  }
  if (parseCache) for (const id of parseCache.keys()) if (!seen.has(id)) parseCache.delete(id);
  for (const [id, accepted] of lastGood) {
    const problem = accepted.location.file ? brokenFiles.get(accepted.location.file) : undefined;
    if (problem && !seen.has(id)) reject(keyOf(accepted.resource), problem);
  }
  return {
    snapshot: snapshotOf(serving.values(), discovered),
    reports,
    fileProblems,
    valid,
    locations,
    documents,
  };
}
