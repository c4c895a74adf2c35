import * as net from 'net';
import * as tls from 'tls';
import type { IssuedCertificate } from './tls-certs';

/**
 * A client-side mTLS tunnel, as ghostunnel, stunnel or a sidecar runs next to a proxyless gRPC client
 * whose xDS library cannot present a client certificate: the client speaks plaintext to a loopback
 * port, and each of its connections is carried over a TLS connection of its own to the xDS server.
 */

export interface MtlsTunnelOptions {
  /** The xDS server's port on 127.0.0.1. */
  targetPort: number;
  /** The CA that signed the xDS server's certificate, which must name 127.0.0.1 (an IP SAN). */
  ca: Buffer;
  /** The client certificate to present; none when absent. */
  clientCertificate?: IssuedCertificate;
}

/** One client connection carried over TLS to the server, as the tunnel saw it. */
export interface TunnelConnection {
  /** The TLS handshake completed on the tunnel's side. */
  secured: boolean;
  /** Bytes the server sent over TLS: an HTTP/2 server that accepts a connection starts with SETTINGS. */
  bytesFromServer: number;
  /** What ended the TLS connection in error, e.g. the server's alert when it wants a client certificate. */
  error?: NodeJS.ErrnoException;
}

export interface MtlsTunnel {
  /** The plaintext port on 127.0.0.1 to point the client at. */
  readonly port: number;
  /** Every connection so far, oldest first. */
  readonly connections: readonly TunnelConnection[];
  /** The client certificate for the connections made from now on, as a sidecar takes a new one. */
  useClientCertificate(certificate: IssuedCertificate | undefined): void;
  /** Destroys every current connection and keeps listening, so that the client connects again. */
  dropConnections(): void;
  /** Stops listening and destroys every connection on both sides. */
  close(): Promise<void>;
}

export async function startMtlsTunnel(options: MtlsTunnelOptions): Promise<MtlsTunnel> {
  const sockets = new Set<net.Socket>();
  const connections: TunnelConnection[] = [];
  let clientCertificate = options.clientCertificate;

  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };

  const dropConnections = () => {
    for (const socket of sockets) socket.destroy();
  };

  const listener = net.createServer((plain) => {
    const connection: TunnelConnection = { secured: false, bytesFromServer: 0 };
    connections.push(connection);
    const secure = tls.connect({
      host: '127.0.0.1',
      port: options.targetPort,
      ca: options.ca,
      cert: clientCertificate?.cert,
      key: clientCertificate?.key,
      // Sluice's gRPC server (Node's HTTP/2) refuses clients that do not negotiate h2.
      ALPNProtocols: ['h2'],
    });
    track(plain);
    track(secure);
    secure.on('secureConnect', () => (connection.secured = true));
    secure.on('data', (chunk: Buffer) => (connection.bytesFromServer += chunk.length));
    // With TLS 1.3 the server checks the client's certificate after the tunnel's side of the handshake
    // is done, so a refusal comes after secureConnect: an alert on the first read, or just a close.
    secure.on('error', (error: NodeJS.ErrnoException) => {
      connection.error ??= error;
      plain.destroy();
    });
    plain.on('error', () => secure.destroy());
    // pipe() passes a half-close on; a connection that goes away takes its peer along.
    plain.pipe(secure);
    secure.pipe(plain);
    plain.on('close', () => secure.destroy());
    secure.on('close', () => plain.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', () => {
      listener.off('error', reject);
      resolve();
    });
  });

  return {
    port: (listener.address() as net.AddressInfo).port,
    connections,
    useClientCertificate: (certificate) => (clientCertificate = certificate),
    dropConnections,
    close: () =>
      new Promise<void>((resolve) => {
        dropConnections();
        listener.close(() => resolve());
      }),
  };
}
