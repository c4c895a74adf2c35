/**
 * One ADS stream subscribed the way an Envoy is (CDS and LDS wildcard, EDS and RDS for what they
 * name), ACKing every response and counting them by type: it shows which types a change re-sends
 * to a proxy that asked for all of them. A raw client of the tests (test/xds/ads-client.ts).
 */
import { TYPE_URLS } from '../src/xds/type-urls';
import { nodeWithRole, SotwClient, type SotwResponse } from '../test/xds/ads-client';

const short = (typeUrl: string): string => typeUrl.split('.').pop() ?? typeUrl;

export class EnvoyLikeStream {
  private readonly client: SotwClient;
  private readonly subscribed: Map<string, string[]>;
  private counts: Record<string, number> = {};
  private readonly seen = new Set<string>();
  private readonly done: Promise<void>;

  constructor(port: number, role: string, clusters: string[], routeConfigs: string[]) {
    this.client = new SotwClient(port, { ownConnection: true });
    this.subscribed = new Map([
      [TYPE_URLS.cluster, []],
      [TYPE_URLS.endpoint, clusters],
      [TYPE_URLS.listener, []],
      [TYPE_URLS.route, routeConfigs],
    ]);
    const node = nodeWithRole('bench-envoy', role);
    for (const [typeUrl, resourceNames] of this.subscribed)
      this.client.send({ node, typeUrl, resourceNames });
    this.done = this.readAll();
  }

  private async readAll(): Promise<void> {
    for (;;) {
      let response: SotwResponse;
      try {
        response = await this.client.next(3_600_000);
      } catch {
        return; // closed
      }
      this.counts[short(response.typeUrl)] = (this.counts[short(response.typeUrl)] ?? 0) + 1;
      this.seen.add(response.typeUrl);
      this.client.ack(response, this.subscribed.get(response.typeUrl) ?? []);
    }
  }

  /** Whether a response of every subscribed type has come. */
  get synced(): boolean {
    return this.seen.size === this.subscribed.size;
  }

  /** Responses received since the last call, by type. */
  take(): Record<string, number> {
    const counts = this.counts;
    this.counts = {};
    return counts;
  }

  async close(): Promise<void> {
    this.client.close();
    await this.done;
  }
}
