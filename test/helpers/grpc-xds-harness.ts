import { promises as fsp } from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import type * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { stringify } from 'yaml';
import {
  startSluice,
  type RunningSluice,
  type SluiceServerOptions,
} from '../../src/control-plane/sluice-server';
import { FileStore } from '../../src/store/file-store';
import {
  XDS_BOOTSTRAP_OPTION,
  callEcho,
  echoClient,
  startEchoBackend,
  xdsBootstrap,
  type EchoBackend,
  type EchoMethod,
} from './echo-backend';

/**
 * End-to-end set-up for proxyless gRPC: echo backends, a temporary config directory served by an
 * in-process Sluice (file store -> translation -> ADS, discovery included) and `@grpc/grpc-js-xds`
 * clients that Sluice configures.
 */

// eslint-disable-next-line @typescript-eslint/no-var-requires
require('@grpc/grpc-js-xds').register();

const NAMESPACE = 'default';
/** The proxy name of the proxyless Gateway; the clients say they are that proxy. */
const PROXY_NAME = 'grpc-clients';
/** The clients' node role: the key of what Sluice serves them (admin `/snapshot?proxy=`). */
export const PROXY_KEY = `${NAMESPACE}~${PROXY_NAME}`;

/** One YAML document of the config directory: a resource as a user writes it. */
export type Document = Record<string, unknown>;

export function meta(name: string): { name: string; namespace: string } {
  return { name, namespace: NAMESPACE };
}

/** A Gateway that serves every VirtualService's domains to the harness' proxyless clients. */
export function proxylessGateway(name: string): Document {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Gateway',
    metadata: meta(name),
    spec: { bindPort: 8080, grpcProxyless: {}, proxyNames: [PROXY_NAME] },
  };
}

export function virtualService(name: string, domain: string, routes: unknown[]): Document {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'VirtualService',
    metadata: meta(name),
    spec: { virtualHost: { domains: [domain], routes } },
  };
}

/** The directory, the backends, Sluice and the clients of one test file; `close()` stops them all. */
export class GrpcXdsHarness {
  private running: RunningSluice | undefined;
  private readonly clients: grpc.Client[] = [];

  private constructor(
    readonly dir: string,
    readonly backends: Record<string, EchoBackend>,
  ) {}

  /** Starts echo backends (by the name their replies carry) and makes an empty config directory. */
  static async start(backendNames: readonly string[]): Promise<GrpcXdsHarness> {
    const harness = new GrpcXdsHarness(await fsp.mkdtemp(path.join(os.tmpdir(), 'sluice-grpc-xds-')), {});
    try {
      for (const name of backendNames) harness.backends[name] = await startEchoBackend(name);
    } catch (error) {
      await harness.close();
      throw error;
    }
    return harness;
  }

  /** Writes YAML documents atomically (temp file + rename), as an editor or `kubectl`-like tool would. */
  async writeYaml(file: string, ...documents: Document[]): Promise<void> {
    const text = documents.map((document) => stringify(document)).join('---\n');
    const temp = path.join(this.dir, `.${file}.${process.pid}.tmp`);
    await fsp.writeFile(temp, text);
    await fsp.rename(temp, path.join(this.dir, file));
  }

  /** Starts Sluice on the directory (xDS and admin on ports of their own); `options` add e.g. xDS TLS. */
  async serve(options: Partial<Omit<SluiceServerOptions, 'store'>> = {}): Promise<RunningSluice> {
    this.running = await startSluice({
      store: new FileStore(this.dir, { debounceMs: 50 }),
      logger: pino({ level: 'silent' }),
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
      ...options,
    });
    return this.running;
  }

  get sluice(): RunningSluice {
    if (!this.running) throw new Error('Sluice is not serving yet: call serve()');
    return this.running;
  }

  /** An HTTP/2 Upstream `backend-NAME` with the harness' backend NAME as its only host. */
  upstream(backendName: string): Document {
    return {
      apiVersion: 'sluice.dev/v1',
      kind: 'Upstream',
      metadata: meta(`backend-${backendName}`),
      spec: {
        static: { http2: true, hosts: [{ address: '127.0.0.1', port: this.backends[backendName].port }] },
      },
    };
  }

  /**
   * A new client of `xds:///DOMAIN` with a channel of its own, configured by Sluice. It streams ADS as
   * the proxyless Gateway's proxy to Sluice's xDS port, or to `xdsPort` (e.g. an mTLS tunnel to Sluice).
   */
  client(domain: string, { xdsPort }: { xdsPort?: number } = {}): grpc.Client {
    const bootstrap = xdsBootstrap(xdsPort ?? this.sluice.xdsPort, PROXY_KEY);
    const client = echoClient(`xds:///${domain}`, { [XDS_BOOTSTRAP_OPTION]: bootstrap });
    this.clients.push(client);
    return client;
  }

  async close(): Promise<void> {
    // Note: @grpc/grpc-js-xds 1.14.1 can leave one 10 s failover timer behind after close() (a priority
    // child destroyed while CONNECTING, as happens to an old cluster after a live change), so jest may
    // report that it did not exit right away. Sluice itself leaves nothing running after stop().
    for (const client of this.clients.splice(0)) client.close();
    try {
      await this.running?.stop();
    } finally {
      await Promise.all(Object.values(this.backends).map((backend) => backend.shutdown()));
      await fsp.rm(this.dir, { recursive: true, force: true });
    }
  }
}

export interface CallTally {
  /** Replies by the backend that sent them. */
  byBackend: Record<string, number>;
  /** The messages of the calls that failed. */
  errors: string[];
}

/** `count` calls of `method`, `concurrency` at a time. */
export async function callMany(
  client: grpc.Client,
  method: EchoMethod,
  count: number,
  concurrency = 40,
): Promise<CallTally> {
  const byBackend: Record<string, number> = {};
  const errors: string[] = [];
  for (let done = 0; done < count; done += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - done) }, () =>
      callEcho(client, method, { timeoutMs: 5000 }).then(
        (reply) => (byBackend[reply.backend] = (byBackend[reply.backend] ?? 0) + 1),
        (error: Error) => errors.push(error.message),
      ),
    );
    await Promise.all(batch);
  }
  return { byBackend, errors };
}

/** GET on Sluice's admin endpoint. */
export function httpGet(port: number, pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: pathname, timeout: 5000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${pathname} timed out`)));
    request.on('error', reject);
  });
}
