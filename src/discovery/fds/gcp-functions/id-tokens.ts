import { IdTokenClient, type JWT } from 'google-auth-library';
import {
  gcpKeyFromSecret,
  identityTokenKey,
  type IdentityToken,
  type IdentityTokens,
  type ServiceAccountKey,
} from '../../../api/gcp';
import { resolveRef } from '../../../api/resource';
import { lookup, type ApiSnapshot } from '../../../api/snapshot';
import type { DestinationSpec, GcpUpstreamSpec, RouteSpec } from '../../../api/types';
import type { Logger } from '../../../logger';
import { gcpFunctions, isRoutable, requiresIdentityToken } from '../../../translator/plugins/gcp/functions';
import { Sema, withPermit } from '../limit';
import { serviceAccountClient } from './credentials';

export interface Clock {
  now(): number;
  /** Calls `callback` after `delayMs`; returns what cancels it. */
  schedule(callback: () => void, delayMs: number): () => void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  schedule(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** Google ID tokens live an hour: refreshed this long before they expire (or halfway, if sooner). */
export const REFRESH_BEFORE_EXPIRY_MS = 15 * 60_000;
/** A failed mint is retried after this, doubling up to MAX_RETRY_MS (and never after the token expires). */
const FIRST_RETRY_MS = 5_000;
const MAX_RETRY_MS = 5 * 60_000;
/** Valid tokens due within this of the first are refreshed with it: one re-translation, not one each. */
const BATCH_WINDOW_MS = 60_000;
const MINT_CONCURRENCY = 4;

interface WantedToken {
  key: ServiceAccountKey;
  audience: string;
}

interface Entry {
  wanted: WantedToken;
  token?: { header: string; expiresAt: number };
  /** The last failure, kept as one object while it repeats (publishing compares identities). */
  failure?: { error: string };
  failures: number;
  /** When to mint next. */
  dueAt: number;
}

function destinationsOf(route: RouteSpec): DestinationSpec[] {
  const action = route.routeAction;
  return [
    ...(action?.single ? [action.single] : []),
    ...(action?.multi?.destinations ?? []).map((weighted) => weighted.destination),
  ];
}

/**
 * The tokens routes need: one per service account and function URL that some route of a VirtualService
 * or RouteTable sends to, on a gcp upstream whose authMode is sluice, for a function that requires
 * authentication. Functions no route reaches get none.
 */
export function wantedTokens(snapshot: ApiSnapshot): Map<string, WantedToken> {
  const wanted = new Map<string, WantedToken>();
  const holders = [
    ...[...snapshot.virtualServices.values()].map((vs) => ({ vs, routes: vs.spec?.virtualHost?.routes })),
    ...[...snapshot.routeTables.values()].map((vs) => ({ vs, routes: vs.spec?.routes })),
  ];
  for (const { vs, routes } of holders) {
    for (const destination of (routes ?? []).flatMap(destinationsOf)) {
      const upstream = lookup(snapshot.upstreams, resolveRef(destination.upstream, vs.metadata.namespace));
      const spec = upstream?.spec?.gcp as GcpUpstreamSpec | undefined;
      if (!upstream || !spec?.secretRef || (spec.authMode ?? 'sluice') !== 'sluice') continue;
      const fn = gcpFunctions(upstream, snapshot).get(destination.function ?? '');
      if (!fn?.url || !isRoutable(fn) || !requiresIdentityToken(fn)) continue;
      const found = gcpKeyFromSecret(snapshot, spec.secretRef, upstream.metadata.namespace);
      if ('error' in found) continue;
      wanted.set(identityTokenKey(found.key.clientEmail, fn.url), { key: found.key, audience: fn.url });
    }
  }
  return wanted;
}

function sameTokens(a: IdentityTokens, b: IdentityTokens): boolean {
  return a.size === b.size && [...a].every(([id, token]) => b.get(id) === token);
}

export interface GcpIdTokenServiceOptions {
  logger: Logger;
  /** Called with every token whenever one is minted, fails or is no longer needed. */
  onChange: (tokens: IdentityTokens) => void;
  clock?: Clock;
}

/**
 * Mints the Google ID tokens Envoy sends to Cloud Functions that require authentication (authMode
 * sluice): google-auth-library's IdTokenClient, with the upstream's service-account key and the function
 * URL as target audience. Follows the API snapshots, refreshes each token well before it expires, and
 * hands every change to the control loop, which re-translates. Tokens stay in memory and are never logged.
 */
export class GcpIdTokenService {
  private readonly entries = new Map<string, Entry>();
  private readonly clients = new Map<ServiceAccountKey['privateKey'], JWT>();
  private readonly clock: Clock;
  private published: IdentityTokens = new Map();
  private cancelTimer: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: GcpIdTokenServiceOptions) {
    this.clock = options.clock ?? SYSTEM_CLOCK;
  }

  current(): IdentityTokens {
    return this.published;
  }

  /** Mints the tokens a new snapshot's routes need and forgets the others; resolves when minted. */
  update(snapshot: ApiSnapshot): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const wanted = wantedTokens(snapshot);
    const now = this.clock.now();
    for (const id of [...this.entries.keys()].filter((id) => !wanted.has(id))) this.entries.delete(id);
    for (const [id, token] of wanted) {
      const entry = this.entries.get(id);
      // A new key for the same account may mean the old one is revoked: mint with the new one now.
      if (!entry || entry.wanted.key.privateKey !== token.key.privateKey)
        this.entries.set(id, { ...entry, wanted: token, failures: 0, dueAt: now });
    }
    const keys = new Set([...this.entries.values()].map((entry) => entry.wanted.key.privateKey));
    for (const key of [...this.clients.keys()].filter((key) => !keys.has(key))) this.clients.delete(key);
    this.publish();
    return this.refresh();
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }

  private refresh(): Promise<void> {
    this.again = true;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async drain(): Promise<void> {
    while (this.again && !this.stopped) {
      this.again = false;
      const now = this.clock.now();
      const due = [...this.entries.values()].filter(
        (entry) =>
          entry.dueAt <= now || (entry.token && !entry.failure && entry.dueAt <= now + BATCH_WINDOW_MS),
      );
      const permits = new Sema(MINT_CONCURRENCY);
      await Promise.all(due.map((entry) => withPermit(permits, () => this.mint(entry))));
      if (!this.stopped) this.publish();
    }
    this.scheduleNext();
  }

  private scheduleNext(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    if (this.stopped || this.entries.size === 0) return;
    const next = Math.min(...[...this.entries.values()].map((entry) => entry.dueAt));
    this.cancelTimer = this.clock.schedule(() => void this.refresh(), Math.max(0, next - this.clock.now()));
  }

  private clientFor(key: ServiceAccountKey): JWT {
    let client = this.clients.get(key.privateKey);
    if (!client) {
      client = serviceAccountClient(key);
      this.clients.set(key.privateKey, client);
    }
    return client;
  }

  private async mint(entry: Entry): Promise<void> {
    const { key, audience } = entry.wanted;
    const idTokens = new IdTokenClient({ targetAudience: audience, idTokenProvider: this.clientFor(key) });
    try {
      const header = (await idTokens.getRequestHeaders()).get('authorization');
      const expiresAt = idTokens.credentials.expiry_date;
      if (!header || !expiresAt) throw new Error('the token endpoint answered without an ID token');
      const now = this.clock.now();
      entry.token = { header, expiresAt };
      entry.failure = undefined;
      entry.failures = 0;
      entry.dueAt = Math.max(expiresAt - REFRESH_BEFORE_EXPIRY_MS, now + (expiresAt - now) / 2);
    } catch (error) {
      const message = (error as Error).message;
      if (entry.failure?.error !== message) {
        this.options.logger.warn(
          { serviceAccount: key.clientEmail, audience, err: message },
          'could not mint a GCP identity token',
        );
        entry.failure = { error: message };
      }
      const now = this.clock.now();
      entry.failures += 1;
      if (entry.token && entry.token.expiresAt <= now) entry.token = undefined;
      const retryAt = now + Math.min(FIRST_RETRY_MS * 2 ** (entry.failures - 1), MAX_RETRY_MS);
      entry.dueAt = entry.token ? Math.min(retryAt, entry.token.expiresAt) : retryAt;
    }
  }

  /** The tokens to serve: a valid token (even while its refresh fails), else the last error. */
  private publish(): void {
    const tokens = new Map<string, IdentityToken>();
    for (const [id, entry] of this.entries) {
      if (entry.token) tokens.set(id, entry.token);
      else if (entry.failure) tokens.set(id, entry.failure);
    }
    if (sameTokens(tokens, this.published)) return;
    this.published = tokens;
    this.options.onChange(tokens);
  }
}
