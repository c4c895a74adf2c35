import * as http from 'http';
import type { AddressInfo } from 'net';
import type { ControlPlane } from '../control-plane/control-plane';
import type { Logger } from '../logger';
import { proxyToJson } from '../translator/gateway/proxy';
import type { AdsServer } from '../xds/ads-server';
import { redactSecrets } from '../xds/redact';
import { messageNameOf } from '../xds/type-urls';
import type { Metrics } from './metrics';
import type { SecretValues } from './secret-values';

export interface AdminServerOptions {
  controlPlane: ControlPlane;
  ads: AdsServer;
  metrics: Metrics;
  logger: Logger;
  /** The secret values to hide from every answer. */
  secrets: SecretValues;
  /** `serve --admin-show-secrets` (and nothing else): answers show secret values as they are. */
  showSecrets?: boolean;
}

type Handler = (url: URL) => Promise<{ status: number; body: unknown; contentType?: string }>;

/**
 * Admin HTTP: health, readiness, Prometheus metrics, the xDS config each proxy gets (`/snapshot`,
 * `?proxy=KEY` for one), the computed Proxies and every resource's status (`/resources`). Secrets are
 * redacted, unless `showSecrets`: the fields that hold them as in Envoy's own config dump, and every
 * known secret value wherever else it appears.
 */
export class AdminServer {
  private server: http.Server | undefined;
  private readonly routes: Record<string, Handler>;

  constructor(private readonly options: AdminServerOptions) {
    this.routes = {
      '/healthz': async () => ({ status: 200, body: 'ok\n', contentType: 'text/plain' }),
      '/readyz': async () =>
        options.controlPlane.isReady()
          ? { status: 200, body: 'ready\n', contentType: 'text/plain' }
          : { status: 503, body: 'not ready: no translation yet\n', contentType: 'text/plain' },
      '/metrics': async () => ({
        status: 200,
        body: await options.metrics.registry.metrics(),
        contentType: options.metrics.registry.contentType,
      }),
      '/snapshot': async (url) => ({ status: 200, body: this.snapshotDump(url.searchParams.get('proxy')) }),
      '/proxies': async () => ({ status: 200, body: options.controlPlane.currentProxies().map(proxyToJson) }),
      '/resources': async () => ({
        status: 200,
        body: {
          statuses: Object.fromEntries(options.controlPlane.currentStatuses()),
          fileProblems: options.controlPlane.currentFileProblems(),
          streams: options.ads.streamInfo(),
        },
      }),
    };
  }

  private snapshotDump(proxy: string | null): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, snapshot] of this.options.controlPlane.currentSnapshots()) {
      if (proxy && key !== proxy) continue;
      const types: Record<string, unknown[]> = {};
      for (const [typeUrl, resources] of snapshot) {
        types[typeUrl] = [...resources.values()].map((resource) => ({
          version: resource.version,
          resource: this.options.showSecrets
            ? resource.json
            : redactSecrets(messageNameOf(typeUrl), resource.json),
        }));
      }
      out[key] = types;
    }
    return out;
  }

  async start(address: string): Promise<number> {
    const { hostname, port } = new URL(`http://${address}`);
    const server = http.createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://admin');
      const handler = this.routes[url.pathname];
      if (!handler || request.method !== 'GET') {
        response
          .writeHead(404, { 'content-type': 'text/plain' })
          .end(`not found; try ${Object.keys(this.routes).join(' ')}\n`);
        return;
      }
      handler(url).then(
        ({ status, body, contentType }) => {
          response
            .writeHead(status, { 'content-type': contentType ?? 'application/json' })
            .end(this.render(body));
        },
        (error: Error) =>
          response.writeHead(500, { 'content-type': 'text/plain' }).end(this.render(`${error.message}\n`)),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(port), hostname.replace(/^\[|\]$/g, ''), () => resolve());
    });
    this.server = server;
    const bound = (server.address() as AddressInfo).port;
    if (this.options.showSecrets) {
      this.options.logger.warn(
        { address, port: bound },
        'admin endpoint shows secret values (--admin-show-secrets): keep it on a trusted host',
      );
    }
    return bound;
  }

  /** The text of an answer; every string in it goes through the secret filter (JSON numbers stay). */
  private render(body: unknown): string {
    const { secrets, showSecrets } = this.options;
    const redact = (text: string) => (showSecrets ? text : secrets.redact(text));
    if (typeof body === 'string') return redact(body);
    return `${JSON.stringify(body, (_key, value: unknown) => (typeof value === 'string' ? redact(value) : value), 2)}\n`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
