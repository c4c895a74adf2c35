import { execFileSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/**
 * Certificates made at test time with the `openssl` command (Node can sign nothing X.509 by itself):
 * P-256 keys, valid for a day, written to a directory the test owns and removes. No key is ever committed.
 */

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface CertificateNames {
  /** The subject CN. */
  commonName: string;
  /** subjectAltName entries as openssl writes them, e.g. `IP:127.0.0.1`, `URI:spiffe://td/ns/a/sa/b`. */
  altNames?: string[];
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(
      `openssl ${args[0]} failed (is openssl installed?): ${(error as Error).message} ${stderr}`,
    );
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function issued(certFile: string, keyFile: string): IssuedCertificate {
  return { certFile, keyFile, cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
}

/** A certificate authority of its own, and the certificates it signs. */
export class TestCertificateAuthority {
  private constructor(
    private readonly dir: string,
    readonly name: string,
    readonly authority: IssuedCertificate,
  ) {}

  /** A self-signed CA named `name`, its files in `dir`. */
  static create(dir: string, name: string): TestCertificateAuthority {
    const certFile = path.join(dir, `${name}-ca.crt`);
    const keyFile = path.join(dir, `${name}-ca.key`);
    openssl([
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      `/CN=${name} test CA`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return new TestCertificateAuthority(dir, name, issued(certFile, keyFile));
  }

  get certFile(): string {
    return this.authority.certFile;
  }

  /** A leaf certificate for both server and client use, signed by this CA; `file` names its files. */
  issue(file: string, names: CertificateNames): IssuedCertificate {
    const base = path.join(this.dir, `${this.name}-${file}`);
    const extensions = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
      ...(names.altNames?.length ? [`subjectAltName=${names.altNames.join(',')}`] : []),
    ];
    fs.writeFileSync(`${base}.ext`, `${extensions.join('\n')}\n`);
    openssl([
      'req',
      '-new',
      ...EC_KEY,
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.csr`,
      '-subj',
      `/CN=${names.commonName}`,
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      this.authority.certFile,
      '-CAkey',
      this.authority.keyFile,
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      '1',
      '-extfile',
      `${base}.ext`,
      '-out',
      `${base}.crt`,
    ]);
    return issued(`${base}.crt`, `${base}.key`);
  }
}
