/**
 * What the TLS tests share: a CA and a server certificate for 127.0.0.1 made with the machine's
 * openssl (servers.ts runs a Redis or a Postgres on it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** True if `cmd args` runs and exits 0. */
export function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface Certificates {
  /** The CA's certificate: what a client must trust. */
  ca: string;
  /** The server's certificate (for 127.0.0.1 and localhost) and its key. */
  cert: string;
  key: string;
}

/** Writes ca.pem, server.pem and server.key into `dir` (valid for one day). */
function makeCertificates(dir: string): Certificates {
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const day = ['-days', '1'];
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', ...day].concat([
      '-subj',
      '/CN=classiclink test CA',
    ]),
  );
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr'].concat([
      '-subj',
      '/CN=127.0.0.1',
    ]),
  );
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-out',
      'server.pem',
      '-extfile',
      'ext.cnf',
      ...day,
    ]),
  );
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

/**
 * Certificates for the calling file, made before its first test (only `when` it runs: without
 * openssl it is skipped) in a temp directory removed after its last.
 */
export function useCertificates(when: boolean): () => Certificates {
  let dir: string | undefined;
  let certs: Certificates | undefined;
  beforeAll(() => {
    if (!when) return;
    dir = mkdtempSync(join(tmpdir(), 'classiclink-tls-'));
    certs = makeCertificates(dir);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    if (!certs) throw new Error('no certificates: they are made before the first test');
    return certs;
  };
}
