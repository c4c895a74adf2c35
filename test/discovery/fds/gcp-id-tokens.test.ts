import pino from 'pino';
import { identityTokenKey, type IdentityToken, type IdentityTokens } from '../../../src/api/gcp';
import { loadSnapshot } from '../../../src/api/load';
import type { ApiSnapshot } from '../../../src/api/snapshot';
import {
  GcpIdTokenService,
  REFRESH_BEFORE_EXPIRY_MS,
  type Clock,
} from '../../../src/discovery/fds/gcp-functions/id-tokens';
import { GcfApiServer } from '../../helpers/gcf-api-server';
import { gcpUpstreamYaml } from '../../helpers/gcf-config';
import { giveGaxiosNodeFetch } from '../../helpers/gcf-fetch';
import { contentsOf } from '../../helpers/translate-yaml';

giveGaxiosNodeFetch();

const EMAIL = 'gateway@shop.iam.gserviceaccount.com';
const HELLO = 'https://hello-0a1b2c3d4e-uc.a.run.app';
const PRIVATE = 'https://us-central1-shop.cloudfunctions.net/private';

/** Timers a test fires itself: no waiting on the wall clock. */
class ManualClock implements Clock {
  time = Date.now();
  private timers: Array<{ callback: () => void; at: number }> = [];
  private waiters: Array<() => void> = [];

  now(): number {
    return this.time;
  }

  schedule(callback: () => void, delayMs: number): () => void {
    const timer = { callback, at: this.time + delayMs };
    this.timers.push(timer);
    for (const waiter of this.waiters.splice(0)) waiter();
    return () => (this.timers = this.timers.filter((other) => other !== timer));
  }

  /** When the pending timer is due (the service keeps at most one). */
  due(): number | undefined {
    expect(this.timers.length).toBeLessThanOrEqual(1);
    return this.timers[0]?.at;
  }

  /** Moves the clock to `at`, fires the timer due by then, and resolves once the service has scheduled its next one. */
  async fireAt(at: number): Promise<void> {
    this.time = at;
    const due = this.timers.filter((timer) => timer.at <= at);
    this.timers = this.timers.filter((timer) => timer.at > at);
    const rescheduled = new Promise<void>((resolve) => this.waiters.push(resolve));
    for (const timer of due) timer.callback();
    await rescheduled;
  }
}

describe('GCP identity token service against the OAuth token endpoint', () => {
  let server: GcfApiServer;
  let key: string;
  let clock: ManualClock;
  let published: IdentityTokens[];
  let service: GcpIdTokenService;

  beforeEach(async () => {
    server = new GcfApiServer();
    await server.start();
    key = server.createServiceAccount(EMAIL);
    clock = new ManualClock();
    published = [];
    service = new GcpIdTokenService({
      logger: pino({ level: 'silent' }),
      onChange: (tokens) => published.push(tokens),
      clock,
    });
  });

  afterEach(async () => {
    service.stop();
    await server.stop();
  });

  function snapshot(routes: string, gcp = 'secretRef: {name: gcp-key}'): ApiSnapshot {
    const functions = [
      { name: 'hello', url: HELLO, state: 'ACTIVE' },
      { name: 'private', url: PRIVATE, state: 'ACTIVE' },
      { name: 'public', url: 'https://public.a.run.app', state: 'ACTIVE', allowUnauthenticated: true },
      { name: 'events', state: 'ACTIVE', eventType: 'google.pubsub.topic.publish' },
    ];
    return loadSnapshot(
      contentsOf(`${gcpUpstreamYaml(key, `functions: ${JSON.stringify(functions)}, ${gcp}`)}
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec: {virtualHost: {domains: ["*"], routes: ${routes}}}
---
apiVersion: sluice.dev/v1
kind: RouteTable
metadata: {name: more, namespace: default}
spec: {routes: [{routeAction: {single: {upstream: {name: gcf}, function: private}}}]}
`),
    ).snapshot;
  }

  const TO_EVERY_FUNCTION = `[
    {matchers: [{prefix: /a}], routeAction: {multi: {destinations: [
      {weight: 1, destination: {upstream: {name: gcf}, function: hello}},
      {weight: 1, destination: {upstream: {name: gcf}, function: public}}]}}},
    {matchers: [{prefix: /b}], routeAction: {single: {upstream: {name: gcf}, function: events}}},
    {matchers: [{prefix: /c}], routeAction: {single: {upstream: {name: gcf}, function: nowhere}}}]`;

  const headerOf = (tokens: IdentityTokens, audience: string) =>
    (tokens.get(identityTokenKey(EMAIL, audience)) as { header: string } | undefined)?.header;

  it('mints one ID token per function that routes reach and that requires authentication, for its URL', async () => {
    await service.update(snapshot(TO_EVERY_FUNCTION));
    expect(published).toHaveLength(1);
    const tokens = service.current();
    expect([...tokens.keys()].sort()).toEqual(
      [identityTokenKey(EMAIL, PRIVATE), identityTokenKey(EMAIL, HELLO)].sort(),
    );
    for (const audience of [HELLO, PRIVATE]) {
      const header = headerOf(tokens, audience) as string;
      expect(header).toMatch(/^Bearer /);
      expect(server.verifyIdToken(header.slice('Bearer '.length))).toMatchObject({
        aud: audience,
        email: EMAIL,
      });
    }
    expect(
      server.requests.map((request) => [request.kind, request.auth, request.status, request.account]),
    ).toEqual([
      ['token', 'id-token-grant', 200, EMAIL],
      ['token', 'id-token-grant', 200, EMAIL],
    ]);
    await service.update(snapshot(TO_EVERY_FUNCTION));
    expect(server.count('token')).toBe(2);
    expect(published).toHaveLength(1);
  });

  it('mints none for gcp_authn upstreams, and forgets tokens no route needs any more', async () => {
    await service.update(snapshot(TO_EVERY_FUNCTION, 'secretRef: {name: gcp-key}, authMode: gcp_authn'));
    expect(server.count('token')).toBe(0);
    expect(clock.due()).toBeUndefined();
    await service.update(snapshot(TO_EVERY_FUNCTION));
    expect(service.current().size).toBe(2);
    await service.update(snapshot('[]'));
    expect([...service.current().keys()]).toEqual([identityTokenKey(EMAIL, PRIVATE)]);
  });

  it('refreshes each token well before it expires, in one batch', async () => {
    await service.update(snapshot(TO_EVERY_FUNCTION));
    const first = service.current();
    const expiresAt = Math.min(
      ...[...first.values()].map((token) => (token as { expiresAt: number }).expiresAt),
    );
    expect(expiresAt).toBeGreaterThan(clock.now() + 59 * 60_000);
    expect(clock.due()).toBe(expiresAt - REFRESH_BEFORE_EXPIRY_MS);
    await clock.fireAt(expiresAt - REFRESH_BEFORE_EXPIRY_MS);
    expect(server.count('token')).toBe(4);
    expect(published).toHaveLength(2);
    const second = service.current();
    expect(headerOf(second, HELLO)).not.toBe(headerOf(first, HELLO));
    expect(headerOf(second, PRIVATE)).not.toBe(headerOf(first, PRIVATE));
  });

  it('keeps serving a valid token while refreshing fails, retries with backoff, and reports the failure once it expires', async () => {
    await service.update(snapshot(`[{routeAction: {single: {upstream: {name: gcf}, function: hello}}}]`));
    const token = service.current().get(identityTokenKey(EMAIL, HELLO)) as {
      header: string;
      expiresAt: number;
    };
    server.disableServiceAccount(EMAIL);
    await clock.fireAt(token.expiresAt - REFRESH_BEFORE_EXPIRY_MS);
    // hello for the VirtualService, private for the RouteTable: minted, then refused.
    expect(server.requests.map((request) => request.status)).toEqual([200, 200, 400, 400]);
    expect(service.current().get(identityTokenKey(EMAIL, HELLO))).toBe(token);
    expect(published).toHaveLength(1);
    expect(clock.due()).toBe(clock.now() + 5_000);
    await clock.fireAt(clock.now() + 5_000);
    expect(clock.due()).toBe(clock.now() + 10_000);
    await clock.fireAt(token.expiresAt);
    expect(service.current().get(identityTokenKey(EMAIL, HELLO))).toEqual<IdentityToken>({
      error: 'invalid_grant: Invalid grant: account not found',
    });
    expect(published).toHaveLength(2);
  });
});
