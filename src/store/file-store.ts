import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import * as chokidar from 'chokidar';
import {
  Document,
  LineCounter,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Pair,
} from 'yaml';
import {
  DEFAULT_NAMESPACE,
  keyOf,
  keyString,
  type Kind,
  type Resource,
  type ResourceKey,
  type Status,
} from '../api/resource';
import { logger } from '../logger';
import { writeFileAtomically } from './atomic-file';
import { checkKeyable, fingerprint, stableStringify, userContent } from './memory-store';
import {
  ConflictError,
  type LoadError,
  type ResourceStore,
  type StoreContents,
  type StoreListener,
  type StoredResource,
} from './store';

export interface FileStoreOptions {
  /** Delay between the last file event of a burst and the reload (ms). Default 100. */
  debounceMs?: number;
}

/** Hidden from the loader and the watcher because its name starts with '.'. */
export const STATE_DIR = '.sluice';
export const STATUS_FILE = 'status.json';

/** How documents Sluice writes are laid out: no line folding, `{name: x}` flow maps. */
const STRINGIFY_OPTIONS = { lineWidth: 0, flowCollectionPadding: false };

/** The JSON document in `DIR/.sluice/status.json`. Both maps are keyed by `keyString`. */
export interface StatusFileContents {
  statuses: Record<string, Status>;
  /**
   * Generation bookkeeping so that generations survive restarts: the generation and the
   * resourceVersion (content hash) it was given for. A second definition of the same key (a
   * duplicate, reported by the validator) is tracked under `KEY#2`, `KEY#3`, ...
   */
  generations: Record<string, GenerationState>;
}

interface GenerationState {
  generation: number;
  resourceVersion: string;
}

/** One non-empty document of a file that yielded a resource. */
interface ParsedResource {
  resource: Resource;
  key: ResourceKey;
  /** Index among all the documents of the file (empty ones included). */
  index: number;
  /** The text this document owns: [segStart, end). segStart is the previous document's end. */
  segStart: number;
  end: number;
  line: number;
  doc: Document.Parsed;
}

interface ParsedFile {
  text: string;
  hash: string;
  resources: ParsedResource[];
  errors: LoadError[];
  /** A comparable summary of every non-empty document, to check that an edit touched only its target. */
  signatures: string[];
  /** The signature index of each resource document (parallel to `resources`). */
  signatureIndex: number[];
}

/**
 * The default store: a directory of YAML files (see docs/file-store.md).
 *
 * - `load()` reads every `*.yaml` / `*.yml` file under the directory (recursively, in sorted path
 *   order, skipping names that start with '.'); each document becomes a resource or a LoadError.
 * - `metadata.resourceVersion` is a hash of the resource's content (everything but `status`,
 *   `metadata.generation` and `metadata.resourceVersion`); `metadata.generation` starts at 1 and
 *   goes up by one whenever the store sees that content change.
 * - `apply` and `delete` edit only the resource's own document, atomically (temp file + rename),
 *   with optimistic concurrency against both `expectedResourceVersion` and concurrent edits.
 * - statuses live in `DIR/.sluice/status.json`; user files are never written for them.
 */
export class FileStore implements ResourceStore {
  readonly dir: string;
  private readonly absDir: string;
  private readonly debounceMs: number;
  private readonly maxWaitMs: number;

  /** Serializes loads and writes of this instance. */
  private queue: Promise<unknown> = Promise.resolve();

  private readonly generations = new Map<string, GenerationState>();
  private generationsInitialized = false;
  /** keyString -> relative path of the file holding its first definition, as of the last load. */
  private index = new Map<string, string>();
  /** keyStrings and generation-state keys seen by the last load (undefined before the first). */
  private lastKeys: Set<string> | undefined;
  private lastStateKeys: Set<string> | undefined;
  private lastLoadFingerprint: string | undefined;

  private readonly listeners = new Set<StoreListener>();
  private watcher: chokidar.FSWatcher | undefined;
  private watchReady: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private burstStartedAt = 0;
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  private lastNotified: string | undefined;
  private closed = false;

  constructor(dir: string, options: FileStoreOptions = {}) {
    this.dir = dir;
    this.absDir = path.resolve(dir);
    this.debounceMs = options.debounceMs ?? 100;
    // A never-ending stream of writes still produces a reload now and then.
    this.maxWaitMs = Math.max(1000, this.debounceMs * 10);
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  load(): Promise<StoreContents> {
    return this.exclusive(() => this.loadNow());
  }

  async readStatuses(): Promise<Map<string, Status>> {
    const state = await this.readStateFile();
    return new Map(Object.entries(state.data.statuses));
  }

  private async loadNow(): Promise<StoreContents> {
    const rels = await this.listFiles();
    const state = await this.readStateFile();
    this.initGenerations(state.data);

    const found: Array<StoredResource & { key: string; order: number }> = [];
    const errors: LoadError[] = [];
    const occurrences = new Map<string, number>();
    const index = new Map<string, string>();
    const stateKeys = new Set<string>();

    for (const rel of rels) {
      const file = this.display(rel);
      let parsed: ParsedFile;
      try {
        parsed = parseUtf8File(file, await fsp.readFile(path.join(this.absDir, rel)));
      } catch (err) {
        if (errorCode(err) === 'ENOENT') continue; // removed since the listing
        errors.push({ location: { file }, message: `${file}: cannot read file: ${errorMessage(err)}` });
        continue;
      }
      errors.push(...parsed.errors);
      for (const entry of parsed.resources) {
        const k = keyString(entry.key);
        const occurrence = occurrences.get(k) ?? 0;
        occurrences.set(k, occurrence + 1);
        if (occurrence === 0) index.set(k, rel);
        const stateKey = occurrence === 0 ? k : `${k}#${occurrence + 1}`;
        stateKeys.add(stateKey);
        const resourceVersion = versionOf(entry.resource);
        const resource = entry.resource;
        resource.metadata.generation = this.observeVersion(stateKey, resourceVersion);
        resource.metadata.resourceVersion = resourceVersion;
        const status = state.data.statuses[k];
        if (status) resource.status = status;
        found.push({ resource, location: { file, line: entry.line }, key: k, order: found.length });
      }
    }

    // Sorted by key; duplicates of one key stay in file order (sorted path, then position).
    found.sort((a, b) => compareStrings(a.key, b.key) || a.order - b.order);
    this.index = index;
    this.lastKeys = new Set(occurrences.keys());
    this.lastStateKeys = stateKeys;
    const contents: StoreContents = {
      resources: found.map(({ resource, location }) => ({ resource, location })),
      errors,
    };
    this.lastLoadFingerprint = fingerprint(contents);
    return contents;
  }

  /** Relative paths (with '/') of every YAML file under the directory, sorted. */
  private async listFiles(): Promise<string[]> {
    const out: string[] = [];
    const visited = new Set<string>();
    const walk = async (absDir: string, rel: string): Promise<void> => {
      let real: string;
      try {
        real = await fsp.realpath(absDir);
      } catch (err) {
        if (rel === '' && errorCode(err) === 'ENOENT') {
          logger.warn(
            { dir: this.dir },
            'config directory does not exist; it is empty until something is applied',
          );
        }
        return;
      }
      if (visited.has(real)) return; // a symlink loop
      visited.add(real);
      let entries;
      try {
        entries = await fsp.readdir(absDir, { withFileTypes: true });
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
        return;
      }
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue;
        const childAbs = path.join(absDir, entry.name);
        const childRel = rel ? `${rel}/${entry.name}` : entry.name;
        let isDir = entry.isDirectory();
        let isFile = entry.isFile();
        if (entry.isSymbolicLink()) {
          try {
            const st = await fsp.stat(childAbs);
            isDir = st.isDirectory();
            isFile = st.isFile();
          } catch {
            continue; // dangling link
          }
        }
        if (isDir) await walk(childAbs, childRel);
        else if (isFile && isYamlName(entry.name)) out.push(childRel);
      }
    };
    await walk(this.absDir, '');
    return out.sort(compareStrings);
  }

  private display(rel: string): string {
    return path.join(this.dir, ...rel.split('/'));
  }

  // ---------------------------------------------------------------------------------------------
  // Generations

  private initGenerations(state: StatusFileContents): void {
    if (this.generationsInitialized) return;
    this.generationsInitialized = true;
    for (const [k, g] of Object.entries(state.generations)) {
      if (g && Number.isInteger(g.generation) && g.generation > 0 && typeof g.resourceVersion === 'string') {
        this.generations.set(k, { generation: g.generation, resourceVersion: g.resourceVersion });
      }
    }
  }

  /**
   * The generation for content version `resourceVersion` of `stateKey`: 1 the first time, one more
   * whenever the version differs from the last one seen. Entries are kept when a resource disappears,
   * so that a file caught half-written (or a delete and re-create) never makes a generation go back.
   */
  private observeVersion(stateKey: string, resourceVersion: string): number {
    const prev = this.generations.get(stateKey);
    if (prev && prev.resourceVersion === resourceVersion) return prev.generation;
    const generation = prev ? prev.generation + 1 : 1;
    this.generations.set(stateKey, { generation, resourceVersion });
    return generation;
  }

  // ---------------------------------------------------------------------------------------------
  // Writing resources

  apply(resource: Resource, expectedResourceVersion?: string): Promise<Resource> {
    return this.exclusive(async () => {
      checkKeyable(resource);
      const desired = userContent(resource);
      const key = keyOf(desired);
      const k = keyString(key);
      const newVersion = versionOf(desired);
      this.initGenerations((await this.readStateFile()).data);

      const found = await this.locate(key);
      let rel: string;
      if (found) {
        rel = found.rel;
        const { parsed, entry, entryIndex } = found;
        const storedVersion = versionOf(entry.resource);
        if (expectedResourceVersion !== undefined && expectedResourceVersion !== storedVersion) {
          throw new ConflictError(
            `${k} in ${this.display(rel)} has changed (resourceVersion ${storedVersion}, expected ` +
              `${expectedResourceVersion || 'none'}); read it again and retry`,
          );
        }
        if (newVersion !== storedVersion) {
          const target = structuredClone(desired);
          // Keep a namespace the file leaves implicit implicit.
          if (target.metadata.namespace === DEFAULT_NAMESPACE && !docHasNamespace(entry.doc)) {
            delete (target.metadata as { namespace?: string }).namespace;
          }
          const docText = renderUpdatedDocument(entry.doc, target, entry.index > 0);
          const text = parsed.text.slice(0, entry.segStart) + docText + parsed.text.slice(entry.end);
          const expected = [...parsed.signatures];
          expected[parsed.signatureIndex[entryIndex]] = stableStringify(target);
          checkEdit(this.display(rel), text, expected);
          await this.writeAtomic(rel, text, parsed.hash);
        }
      } else {
        if (expectedResourceVersion !== undefined && expectedResourceVersion !== '') {
          throw new ConflictError(
            `${k} no longer exists (expected resourceVersion ${expectedResourceVersion})`,
          );
        }
        rel = defaultPath(key);
        const existing = await this.readParsed(rel);
        const docText = new Document(desired).toString(STRINGIFY_OPTIONS);
        if (!existing) {
          await this.writeAtomic(rel, docText, null);
        } else {
          // The file at the default path holds other documents: add this one at the end.
          if (existing.errors.length > 0) {
            throw new Error(`cannot add ${k} to ${this.display(rel)}: ${existing.errors[0].message}`);
          }
          const sep = existing.text === '' || existing.text.endsWith('\n') ? '' : '\n';
          const marker = existing.signatures.length > 0 ? '---\n' : '';
          const text = existing.text + sep + marker + docText;
          checkEdit(this.display(rel), text, [...existing.signatures, stableStringify(desired)]);
          await this.writeAtomic(rel, text, existing.hash);
        }
      }
      if (!this.index.has(k)) this.index.set(k, rel);
      // Without an earlier load, learn the stored version first so that a change counts as one.
      if (found) this.observeVersion(k, versionOf(found.entry.resource));
      const stored = structuredClone(desired);
      stored.metadata.generation = this.observeVersion(k, newVersion);
      stored.metadata.resourceVersion = newVersion;
      return stored;
    });
  }

  delete(key: ResourceKey): Promise<void> {
    return this.exclusive(async () => {
      const found = await this.locate(key);
      if (!found) return; // already gone: deleting is idempotent
      const { rel, parsed, entry, entryIndex } = found;
      const text = parsed.text.slice(0, entry.segStart) + parsed.text.slice(entry.end);
      const expected = parsed.signatures.filter((_, i) => i !== parsed.signatureIndex[entryIndex]);
      if (expected.length === 0) {
        await this.unlinkChecked(rel, parsed.hash);
      } else {
        checkEdit(this.display(rel), text, expected);
        await this.writeAtomic(rel, text, parsed.hash);
      }
      this.index.delete(keyString(key));
    });
  }

  /** Finds the document defining `key` (its first definition), using the last load as a hint. */
  private async locate(
    key: ResourceKey,
  ): Promise<{ rel: string; parsed: ParsedFile; entry: ParsedResource; entryIndex: number } | undefined> {
    const k = keyString(key);
    const find = async (rel: string) => {
      const parsed = await this.readParsed(rel);
      if (!parsed) return undefined;
      const entryIndex = parsed.resources.findIndex((r) => keyString(r.key) === k);
      return entryIndex < 0 ? undefined : { rel, parsed, entry: parsed.resources[entryIndex], entryIndex };
    };
    const hint = this.index.get(k);
    if (hint) {
      const hit = await find(hint);
      if (hit) return hit;
    }
    for (const rel of await this.listFiles()) {
      if (rel === hint) continue;
      const hit = await find(rel);
      if (hit) return hit;
    }
    return undefined;
  }

  private async readParsed(rel: string): Promise<ParsedFile | undefined> {
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(path.join(this.absDir, rel));
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    return parseUtf8File(this.display(rel), bytes);
  }

  /**
   * Replaces `rel` with `content` atomically: a hidden temp file in the same directory, fsync'd,
   * then renamed over the target. Right before the rename the target is read again: if it no longer
   * hashes to `expectedHash` (null: must not exist), someone edited it meanwhile and we give up with
   * a ConflictError instead of overwriting their edit.
   */
  private async writeAtomic(rel: string, content: string, expectedHash: string | null): Promise<void> {
    const abs = path.join(this.absDir, rel);
    let mode: number | undefined;
    try {
      mode = (await fsp.stat(abs)).mode & 0o7777;
    } catch {
      mode = undefined;
    }
    await writeFileAtomically(abs, content, {
      mode,
      beforeRename: () => this.assertUnchanged(rel, expectedHash),
    });
  }

  private async unlinkChecked(rel: string, expectedHash: string): Promise<void> {
    await this.assertUnchanged(rel, expectedHash);
    const abs = path.join(this.absDir, rel);
    await fsp.unlink(abs);
    // Tidy up directories left empty (e.g. default/upstreams/), never the root itself.
    let dir = path.dirname(abs);
    while (dir.startsWith(this.absDir + path.sep)) {
      try {
        await fsp.rmdir(dir);
      } catch {
        break;
      }
      dir = path.dirname(dir);
    }
  }

  private async assertUnchanged(rel: string, expectedHash: string | null): Promise<void> {
    let current: string | null;
    try {
      current = hashText(await fsp.readFile(path.join(this.absDir, rel), 'utf8'));
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
      current = null;
    }
    if (current !== expectedHash) {
      throw new ConflictError(
        `${this.display(rel)} was ${expectedHash === null ? 'created' : current === null ? 'removed' : 'changed'} ` +
          'by someone else while Sluice was writing it; nothing was written, read it again and retry',
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Statuses

  writeStatuses(statuses: ReadonlyArray<{ key: ResourceKey; status: Status }>): Promise<void> {
    return this.exclusive(async () => {
      // Another process (a CLI next to the server) may write the file too: merge again on a race.
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.writeStatusesOnce(statuses);
        } catch (err) {
          if (!(err instanceof ConflictError) || attempt >= 3) throw err;
        }
      }
    });
  }

  private async writeStatusesOnce(
    statuses: ReadonlyArray<{ key: ResourceKey; status: Status }>,
  ): Promise<void> {
    {
      const state = await this.readStateFile();
      this.initGenerations(state.data);
      const next: StatusFileContents = { statuses: { ...state.data.statuses }, generations: {} };
      for (const { key, status } of statuses) next.statuses[keyString(key)] = status;
      // Forget statuses of resources the last load did not find.
      if (this.lastKeys) {
        for (const k of Object.keys(next.statuses)) if (!this.lastKeys.has(k)) delete next.statuses[k];
      }
      const stateKeys = this.lastStateKeys ?? new Set(this.generations.keys());
      for (const k of stateKeys) {
        const g = this.generations.get(k);
        if (g) next.generations[k] = { ...g };
      }
      const text = serializeState(next);
      if (text === state.text) return;
      const expectedHash = state.text === undefined ? null : hashText(state.text);
      await this.writeAtomic(`${STATE_DIR}/${STATUS_FILE}`, text, expectedHash);
    }
  }

  private async readStateFile(): Promise<{ data: StatusFileContents; text: string | undefined }> {
    const file = path.join(this.absDir, STATE_DIR, STATUS_FILE);
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') {
        // Loading must not fail over bookkeeping; a write to the file would fail loudly anyway.
        logger.warn({ file, err: errorMessage(err) }, 'cannot read the status file; statuses are not loaded');
      }
      return { data: { statuses: {}, generations: {} }, text: undefined };
    }
    try {
      const raw = JSON.parse(text) as Partial<StatusFileContents>;
      return {
        data: { statuses: objectOr(raw.statuses), generations: objectOr(raw.generations) },
        text,
      };
    } catch (err) {
      logger.warn({ file, err: errorMessage(err) }, 'ignoring unreadable status file; it will be rewritten');
      return { data: { statuses: {}, generations: {} }, text };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Watching

  watch(listener: StoreListener): () => void {
    if (this.closed) throw new Error('FileStore is closed');
    this.listeners.add(listener);
    if (!this.watcher) this.startWatcher();
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      void this.stopWatcher();
    };
  }

  /**
   * Resolves once the watcher has finished its initial scan and taken its baseline, i.e. once every
   * later file change is guaranteed to be noticed. Resolves at once when nothing is being watched.
   */
  ready(): Promise<void> {
    return this.watchReady ?? Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.stopWatcher();
    await this.queue.catch(() => undefined);
  }

  private startWatcher(): void {
    // Changes between the caller's last load() and now are reported by the baseline reload.
    this.lastNotified = this.lastLoadFingerprint;
    const watcher = chokidar.watch(this.absDir, {
      ignoreInitial: true,
      ignored: (p: string) => this.isHidden(p),
      followSymlinks: true,
    });
    this.watcher = watcher;
    watcher.on('all', (event, p) => {
      if (event === 'addDir' || event === 'unlinkDir' || isYamlName(path.basename(p))) this.schedule();
    });
    watcher.on('error', (err) =>
      logger.warn({ dir: this.dir, err: errorMessage(err) }, 'file watcher error'),
    );
    this.watchReady = new Promise<void>((resolve) => watcher.once('ready', resolve)).then(() =>
      this.watcher === watcher ? this.reload() : undefined,
    );
  }

  private async stopWatcher(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const watcher = this.watcher;
    this.watcher = undefined;
    this.watchReady = undefined;
    this.lastNotified = undefined;
    if (watcher) await watcher.close();
    await this.reloading;
  }

  private isHidden(p: string): boolean {
    const rel = path.relative(this.absDir, path.resolve(p));
    if (rel === '' || rel.startsWith('..')) return false;
    return rel.split(path.sep).some((segment) => segment.startsWith('.'));
  }

  /** Trailing debounce: one reload `debounceMs` after the last event of a burst. */
  private schedule(): void {
    if (this.closed || !this.watcher) return;
    const now = Date.now();
    if (!this.timer) {
      this.burstStartedAt = now;
    } else {
      if (now - this.burstStartedAt >= this.maxWaitMs) return; // let the pending reload happen
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, this.debounceMs);
  }

  private reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          await this.reloadOnce();
        } while (this.reloadAgain && !this.closed && this.watcher);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  private async reloadOnce(): Promise<void> {
    if (this.closed || !this.watcher) return;
    let contents: StoreContents;
    try {
      contents = await this.load();
    } catch (err) {
      logger.error({ dir: this.dir, err: errorMessage(err) }, 'reloading the config directory failed');
      return;
    }
    if (this.closed || !this.watcher) return;
    const fp = fingerprint(contents);
    if (this.lastNotified === undefined) {
      this.lastNotified = fp; // the baseline
      return;
    }
    if (fp === this.lastNotified) return;
    this.lastNotified = fp;
    for (const listener of [...this.listeners]) {
      try {
        listener(contents);
      } catch (err) {
        logger.error({ err }, 'file store watch listener failed');
      }
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

// -----------------------------------------------------------------------------------------------
// Parsing

/** Throws on bytes that are not UTF-8; keeps a byte order mark, as Buffer#toString does. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses a file's bytes. Bytes that are not UTF-8 make the whole file an error: decoding would silently
 * turn them into U+FFFD, changing what the user wrote (and a write would then save the change).
 */
function parseUtf8File(file: string, bytes: Buffer): ParsedFile {
  let text: string;
  try {
    text = STRICT_UTF8.decode(bytes);
  } catch {
    return notUtf8File(file, bytes);
  }
  return parseFile(file, text);
}

function notUtf8File(file: string, bytes: Buffer): ParsedFile {
  const text = bytes.toString('utf8');
  const line = text.slice(0, text.indexOf('\uFFFD')).split('\n').length;
  const message = `${file}:${line}: not valid UTF-8; save the file with UTF-8 encoding`;
  return {
    text,
    hash: hashText(text),
    resources: [],
    errors: [{ location: { file, line }, message }],
    signatures: [],
    signatureIndex: [],
  };
}

/** Splits a file into resources and errors. `file` is only used in messages and locations. */
function parseFile(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter();
  // logLevel 'error': yaml's warnings go to process.emitWarning (stderr) quoting the text they are about.
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, logLevel: 'error' });
  const resources: ParsedResource[] = [];
  const errors: LoadError[] = [];
  const signatures: string[] = [];
  const signatureIndex: number[] = [];
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;

  let prevEnd = 0;
  Array.from(docs).forEach((doc, index) => {
    const segStart = prevEnd;
    const end = doc.range[2];
    prevEnd = end;
    const contents = doc.contents;
    const line = lineOf(contents?.range?.[0] ?? doc.range[0]);
    const at = `${file}:${line}`;

    if (doc.errors.length > 0) {
      const err = doc.errors[0];
      const errLine = err.linePos?.[0]?.line ?? lineOf(err.pos[0]);
      const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more)` : '';
      errors.push({
        location: { file, line: errLine },
        key: guessKey(doc),
        message: `${file}:${errLine}: YAML syntax error: ${withoutQuotedText(err.message)}${more}`,
      });
      signatures.push('!error');
      return;
    }
    if (contents === null || (isScalar(contents) && contents.value === null)) return; // empty document

    let js: unknown;
    let signature: string;
    try {
      js = doc.toJS({ maxAliasCount: 100 });
      signature = stableStringify(js);
    } catch (err) {
      // `&a {name: *a}` is valid YAML and becomes a circular object: walking it overflows the stack.
      const reason =
        err instanceof RangeError
          ? 'an alias refers to a node that contains it'
          : withoutQuotedText(errorMessage(err));
      errors.push({ location: { file, line }, message: `${at}: cannot read document: ${reason}` });
      signatures.push('!error');
      return;
    }
    signatures.push(signature);
    if (!isPlainObject(js)) {
      errors.push({
        location: { file, line },
        message: `${at}: document is not a mapping; expected a resource with apiVersion, kind and metadata.name`,
      });
      return;
    }
    const meta = isPlainObject(js.metadata) ? js.metadata : {};
    const missing: string[] = [];
    if (!nonEmptyString(js.apiVersion)) missing.push('apiVersion');
    if (!nonEmptyString(js.kind)) missing.push('kind');
    // A name or namespace YAML reads as a number (`name: 12345`) is there, but not a string.
    const notStrings = (['name', 'namespace'] as const).filter(
      (field) => meta[field] !== undefined && meta[field] !== null && !nonEmptyString(meta[field]),
    );
    if (meta.name === undefined || meta.name === null) missing.push('metadata.name');
    const namespace = nonEmptyString(meta.namespace) ? meta.namespace : DEFAULT_NAMESPACE;
    const key =
      nonEmptyString(js.kind) && nonEmptyString(meta.name)
        ? { kind: js.kind as Kind, namespace, name: meta.name }
        : undefined;
    if (missing.length > 0 || notStrings.length > 0) {
      const problems = [
        ...(missing.length > 0 ? [`missing ${missing.join(', ')}`] : []),
        ...notStrings.map(
          (field) => `metadata.${field} must be a non-empty string, not ${kindOfValue(meta[field])}`,
        ),
      ];
      errors.push({
        location: { file, line },
        key,
        message: `${at}: not a resource: ${problems.join('; ')}`,
      });
      return;
    }
    if (meta.namespace === null) delete meta.namespace;
    resources.push({
      resource: userContent(js as unknown as Resource),
      key: key!,
      index,
      segStart,
      end,
      line,
      doc,
    });
    signatureIndex.push(signatures.length - 1);
  });
  return { text, hash: hashText(text), resources, errors, signatures, signatureIndex };
}

/**
 * A yaml error message without the text of the file some of them quote ("Block scalar header includes
 * extra characters: |...", "Unresolved alias (...): NAME", "Unexpected scalar token in YAML stream:
 * "...", "Invalid escape sequence \U..."): that text may be a secret; file and line say where to look.
 * A quote always follows a colon that follows a non-space ("Missing , or : between ..." keeps its colon).
 */
function withoutQuotedText(message: string): string {
  return message.replace(/^(Invalid escape sequence) .*$/s, '$1').replace(/(?<=\S): .*$/s, '');
}

/** kind/namespace/name of a document with a syntax error, when what was parsed names it. */
function guessKey(doc: Document.Parsed): ResourceKey | undefined {
  try {
    const kind = doc.get('kind');
    const name = doc.getIn(['metadata', 'name']);
    const namespace = doc.getIn(['metadata', 'namespace']);
    if (!nonEmptyString(kind) || !nonEmptyString(name)) return undefined;
    return { kind: kind as Kind, name, namespace: nonEmptyString(namespace) ? namespace : DEFAULT_NAMESPACE };
  } catch {
    return undefined;
  }
}

function docHasNamespace(doc: Document.Parsed): boolean {
  return doc.hasIn(['metadata', 'namespace']);
}

/** Checks that `text` parses to exactly the documents in `expected` (signatures), in order. */
function checkEdit(file: string, text: string, expected: string[]): void {
  const actual = parseFile(file, text).signatures;
  if (stableStringify(actual) !== stableStringify(expected)) {
    throw new Error(
      `internal error: editing ${file} would not produce the intended documents; nothing was written`,
    );
  }
}

// -----------------------------------------------------------------------------------------------
// Editing one document while keeping its comments and layout where the content did not change

/**
 * The text of `doc` with its contents changed to `value`. Unchanged nodes (and their comments) are
 * kept; changed scalars keep their comments; collections are updated entry by entry.
 */
function renderUpdatedDocument(doc: Document.Parsed, value: Resource, needsMarker: boolean): string {
  // `doc` is edited in place: it comes from a parse made for this one edit.
  const edited = doc;
  const commentBefore = isNode(doc.contents) ? doc.contents.commentBefore : undefined;
  edited.contents = updateNode(edited, edited.contents, value) as typeof edited.contents;
  if (stableStringify(edited.toJS({ maxAliasCount: 100 })) !== stableStringify(value)) {
    // Anchors and aliases can make a node-by-node edit change more than intended: start over.
    const fresh = edited.createNode(value);
    fresh.commentBefore = commentBefore;
    edited.contents = fresh as typeof edited.contents;
  }
  if (needsMarker && edited.directives) edited.directives.docStart = true;
  return edited.toString(STRINGIFY_OPTIONS);
}

function updateNode(doc: Document, node: unknown, value: unknown): unknown {
  if (isScalarValue(value) && isScalar(node)) {
    if (node.value === value) return node;
    if (value !== null && node.value !== null && typeof node.value === typeof value) {
      node.value = value;
      return node;
    }
  } else if (isMap(node) && isPlainObject(value)) {
    if (jsEquals(doc, node, value)) return node;
    const seen = new Set<string>();
    node.items = node.items.filter((pair) => {
      const k = pairKey(pair);
      if (k === undefined || !Object.prototype.hasOwnProperty.call(value, k) || seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    for (const pair of node.items) pair.value = updateNode(doc, pair.value, value[pairKey(pair)!]);
    for (const [k, v] of Object.entries(value)) {
      if (!seen.has(k) && v !== undefined) node.items.push(doc.createPair(k, v));
    }
    return node;
  } else if (isSeq(node) && Array.isArray(value)) {
    if (jsEquals(doc, node, value)) return node;
    node.items = node.items.slice(0, value.length).map((item, i) => updateNode(doc, item, value[i]));
    for (let i = node.items.length; i < value.length; i++) node.items.push(doc.createNode(value[i]));
    return node;
  } else if (isAlias(node) && jsEquals(doc, node, value)) {
    return node;
  }
  const fresh = doc.createNode(value);
  if (isNode(node)) {
    fresh.commentBefore = node.commentBefore;
    fresh.comment = node.comment;
    fresh.spaceBefore = node.spaceBefore;
  }
  return fresh;
}

function pairKey(pair: Pair<unknown, unknown>): string | undefined {
  const k = isScalar(pair.key) ? pair.key.value : pair.key;
  return k === null || typeof k === 'object' ? undefined : String(k);
}

function jsEquals(
  doc: Document,
  node: { toJS(doc: Document, opts?: { maxAliasCount?: number }): unknown },
  value: unknown,
) {
  try {
    return stableStringify(node.toJS(doc, { maxAliasCount: 100 })) === stableStringify(value);
  } catch {
    return false;
  }
}

// -----------------------------------------------------------------------------------------------
// Small helpers

/** `NAMESPACE/PLURAL/NAME.yaml`, e.g. `default/virtualservices/default.yaml`. */
export function defaultPath(key: ResourceKey): string {
  for (const [what, segment] of [
    ['namespace', key.namespace],
    ['name', key.name],
  ]) {
    if (!segment || segment.startsWith('.') || /[/\\\0]/.test(segment)) {
      throw new Error(`${keyString(key)}: the ${what} "${segment}" cannot be used as a file name`);
    }
  }
  return `${key.namespace}/${kindPlural(key.kind)}/${key.name}.yaml`;
}

/** `VirtualService` -> `virtualservices`, `Settings` -> `settings`. */
export function kindPlural(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith('s')) return lower;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

/** The resourceVersion of a file resource: a short hash of its user-owned content. */
export function versionOf(resource: Resource): string {
  return createHash('sha256')
    .update(stableStringify(userContent(resource)))
    .digest('hex')
    .slice(0, 16);
}

function serializeState(state: StatusFileContents): string {
  const sorted = (o: Record<string, unknown>) =>
    Object.fromEntries(
      Object.keys(o)
        .sort(compareStrings)
        .map((k) => [k, o[k]]),
    );
  return `${JSON.stringify({ statuses: sorted(state.statuses), generations: sorted(state.generations) }, null, 2)}\n`;
}

function hashText(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function isYamlName(name: string): boolean {
  return /\.ya?ml$/i.test(name) && !name.startsWith('.');
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isScalarValue(v: unknown): boolean {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** `a number`, `an empty string`, ... for messages. */
function kindOfValue(v: unknown): string {
  if (v === '') return 'an empty string';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

function objectOr<T>(v: unknown): Record<string, T> {
  return isPlainObject(v) ? (v as Record<string, T>) : {};
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
