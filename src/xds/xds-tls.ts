import { X509Certificate, createPrivateKey } from 'crypto';
import * as fs from 'fs';
import { BlockList, isIP } from 'net';
import type { PeerCertificate } from 'tls';
import * as grpc from '@grpc/grpc-js';

/** Where the ADS server's TLS material is (`serve` flags, else Settings `spec.xdsTls`); empty means unset. */
export interface XdsTlsFiles {
  certFile?: string;
  keyFile?: string;
  clientCaFile?: string;
  bindRoleToCertificate?: boolean;
}

/** TLS of the ADS server, its files read and checked once at start (they are not reloaded). */
export interface XdsTls {
  readonly credentials: grpc.ServerCredentials;
  /** mTLS: clients must present a certificate signed by the client CA. */
  readonly mutual: boolean;
  /** A stream's node role must be one of its client certificate's identities. */
  readonly bindRoleToCertificate: boolean;
}

function readPem(what: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new Error(`${what} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function parseCertificate(what: string, file: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new Error(`${what} ${file}: not a PEM certificate`);
  }
}

/**
 * Reads and checks the files and builds the gRPC server credentials, or undefined when nothing is set
 * (plaintext). Every error names the file and what is wrong with it (a user error).
 */
export function loadXdsTls(files: XdsTlsFiles): XdsTls | undefined {
  const { certFile, keyFile, clientCaFile } = files;
  const bindRoleToCertificate = files.bindRoleToCertificate === true;
  if (!certFile && !keyFile && !clientCaFile && !bindRoleToCertificate) return undefined;
  if (!certFile || !keyFile) {
    throw new Error(
      'xDS TLS needs both a certificate and its private key (--xds-tls-cert and --xds-tls-key, or Settings spec.xdsTls.certFile and keyFile)',
    );
  }
  if (bindRoleToCertificate && !clientCaFile) {
    throw new Error(
      'binding proxy roles to certificates needs client certificates: set a client CA (--xds-client-ca or Settings spec.xdsTls.clientCaFile)',
    );
  }
  const certChain = readPem('xDS TLS certificate', certFile);
  const privateKey = readPem('xDS TLS private key', keyFile);
  const certificate = parseCertificate('xDS TLS certificate', certFile, certChain);
  let key;
  try {
    key = createPrivateKey(privateKey);
  } catch {
    throw new Error(`xDS TLS private key ${keyFile}: not a PEM private key`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new Error(`xDS TLS private key ${keyFile}: does not belong to the certificate ${certFile}`);
  }
  let clientCa: Buffer | null = null;
  if (clientCaFile) {
    clientCa = readPem('xDS client CA', clientCaFile);
    parseCertificate('xDS client CA', clientCaFile, clientCa);
  }
  return {
    credentials: grpc.ServerCredentials.createSsl(
      clientCa,
      [{ cert_chain: certChain, private_key: privateKey }],
      clientCa !== null,
    ),
    mutual: clientCa !== null,
    bindRoleToCertificate,
  };
}

/** `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/PROXYNAME`: the proxy NAMESPACE~PROXYNAME. */
const SPIFFE_PROXY_ID = /^spiffe:\/\/[^/]+\/ns\/([^/~]+)\/sa\/([^/~]+)$/;
/** A common name written as a proxy key. */
const PROXY_KEY_NAME = /^[^~\s]+~[^~\s]+$/;

/**
 * Entries of one type in Node's `subjectaltname` text (`DNS:a, URI:b`); Node writes a value that holds
 * a comma or a quote as a JSON string.
 */
function subjectAltNames(text: string | undefined, type: string): string[] {
  const names: string[] = [];
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  let match: RegExpExecArray | null;
  while (text && entry.lastIndex < text.length && (match = entry.exec(text))) {
    if (match[1] === type) names.push(match[2].startsWith('"') ? (JSON.parse(match[2]) as string) : match[2]);
  }
  return names;
}

/**
 * The proxy keys (`NAMESPACE~PROXYNAME`) a client certificate stands for: each URI SAN
 * `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/PROXYNAME`, and the subject CN when it is written
 * `NAMESPACE~PROXYNAME`. The trust domain is not checked: the client CA decides whom to trust.
 */
export function certificateIdentities(certificate: PeerCertificate): string[] {
  const identities = new Set<string>();
  for (const uri of subjectAltNames(certificate.subjectaltname, 'URI')) {
    const match = SPIFFE_PROXY_ID.exec(uri);
    if (match) identities.add(`${match[1]}~${match[2]}`);
  }
  // Node gives an array when the subject has several CNs.
  const commonNames = [certificate.subject?.CN as string | string[] | undefined].flat();
  for (const name of commonNames) if (name && PROXY_KEY_NAME.test(name)) identities.add(name);
  return [...identities];
}

/** Why a stream asking for `role` may not have it with this client certificate; undefined if it may. */
export function roleBindingProblem(
  role: string,
  certificate: PeerCertificate | undefined,
): string | undefined {
  if (!certificate) return `role ${role} refused: the connection has no verified client certificate`;
  const identities = certificateIdentities(certificate);
  if (identities.includes(role)) return undefined;
  if (identities.length === 0) {
    return `role ${role} refused: the client certificate names no proxy (subject CN NAMESPACE~PROXYNAME or URI SAN spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/PROXYNAME)`;
  }
  return `role ${role} refused: the client certificate is for ${identities.join(', ')}`;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether a gRPC bind address (`host:port`, `[v6]:port`, `unix:path`) is reachable from this host only. */
export function isLoopbackAddress(address: string): boolean {
  if (address.startsWith('unix:')) return true;
  const bracketed = /^\[([^\]]+)\](?::\d*)?$/.exec(address);
  const host = bracketed ? bracketed[1] : address.replace(/:\d*$/, '');
  if (host === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}
