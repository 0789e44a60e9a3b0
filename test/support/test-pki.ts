/**
 * A throwaway CA and SPIFFE leaf certificates made with the openssl CLI, laid out as the
 * file_watcher certificate provider reads them: <dir>/<name>/{cert,key,ca}.pem.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const LEAF_EXTENSIONS = `[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = \${ENV::SAN}
`;

export interface TestPki {
  readonly root: string;
  /** The directory holding cert.pem, key.pem and ca.pem for an identity. */
  dirOf(name: string): string;
  remove(): void;
}

function openssl(args: string[], env: Record<string, string> = {}): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
}

/** Issues one leaf per `identities` entry (name → URI SAN), all signed by one fresh CA. */
export function issueTestPki(identities: Record<string, string>): TestPki {
  const root = mkdtempSync(path.join(tmpdir(), 'accord-pki-'));
  const ca = { key: path.join(root, 'ca.key'), cert: path.join(root, 'ca.pem') };
  const extFile = path.join(root, 'leaf.cnf');
  writeFileSync(extFile, LEAF_EXTENSIONS);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ca.key]);
  openssl([
    'req', '-x509', '-new', '-key', ca.key, '-subj', '/O=accord-test/CN=test-ca', '-days', '1', '-out', ca.cert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  for (const [name, san] of Object.entries(identities)) {
    const dir = path.join(root, name);
    mkdirSync(dir);
    const key = path.join(dir, 'key.pem');
    const csr = path.join(dir, 'req.csr');
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    openssl(['req', '-new', '-key', key, '-subj', `/O=accord-test/CN=${name}`, '-out', csr]);
    openssl(
      ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '1', '-extfile', extFile, '-extensions', 'ext', '-out', path.join(dir, 'cert.pem')],
      { SAN: `URI:${san}` },
    );
    execFileSync('cp', [ca.cert, path.join(dir, 'ca.pem')]);
  }
  return {
    root,
    dirOf: (name) => path.join(root, name),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
