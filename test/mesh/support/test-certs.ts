/** Test-only certificates made with the openssl CLI: one EC root and SPIFFE leaves signed by it. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

export interface CertFiles {
  readonly certificate: string;
  readonly privateKey: string;
  readonly ca: string;
}

export class TestCa {
  readonly caCert: string;
  private readonly caKey: string;
  private serial = 1;

  constructor(private readonly dir: string) {
    this.caKey = path.join(dir, 'ca.key');
    this.caCert = path.join(dir, 'ca.pem');
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', this.caKey]);
    openssl(['req', '-x509', '-new', '-key', this.caKey, '-subj', '/O=accord-test/CN=root', '-days', '1', '-out', this.caCert,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }

  issue(name: string, spiffeId: string): CertFiles {
    const key = path.join(this.dir, `${name}.key`);
    const csr = path.join(this.dir, `${name}.csr`);
    const cert = path.join(this.dir, `${name}.pem`);
    const ext = path.join(this.dir, `${name}.ext`);
    writeFileSync(
      ext,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        `subjectAltName=URI:${spiffeId}`,
      ].join('\n'),
    );
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    openssl(['req', '-new', '-key', key, '-subj', `/O=accord-test`, '-out', csr]);
    openssl(['x509', '-req', '-in', csr, '-CA', this.caCert, '-CAkey', this.caKey, '-set_serial', String(++this.serial), '-days', '1',
      '-extfile', ext, '-out', cert]);
    return { certificate: cert, privateKey: key, ca: this.caCert };
  }
}
