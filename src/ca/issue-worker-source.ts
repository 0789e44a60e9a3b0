/**
 * The worker-thread side of IssuancePool, as plain JavaScript run with `new Worker(src, { eval: true })`.
 * It is kept as source text so it runs the same from TypeScript sources (tests) and compiled output
 * without a separate build step. It mirrors keys.ts (generateP256) and leaf-template.ts
 * (buildLeafTbs, signLeafTbs); test/ca/pool.test.ts checks byte for byte that both build the same
 * TBSCertificate.
 */
export const ISSUE_WORKER_SOURCE = String.raw`
'use strict';
const crypto = require('node:crypto');
const { parentPort } = require('node:worker_threads');

function derLength(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag, content) { return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]); }
function seq(...parts) { return tlv(0x30, Buffer.concat(parts)); }
function uint(bytes) {
  let s = 0;
  while (s < bytes.length - 1 && bytes[s] === 0) s++;
  const body = bytes.subarray(s);
  return tlv(0x02, body[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}
function time(ms) {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString();
  const year = Number(iso.slice(0, 4));
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(digits.slice(2), 'ascii'));
  return tlv(0x18, Buffer.from(digits, 'ascii'));
}
const TRUE = Buffer.from([0x01, 0x01, 0xff]);
const OID_SAN = Buffer.from('0603551d11', 'hex');
const OID_SKI = Buffer.from('0603551d0e', 'hex');
function ext(oid, critical, value) {
  return critical ? seq(oid, TRUE, tlv(0x04, value)) : seq(oid, tlv(0x04, value));
}
function readElement(buf, offset) {
  let length = buf[offset + 1];
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[contentStart + i];
    contentStart += count;
  }
  return { contentStart, end: contentStart + length };
}
function pem(label, der) {
  const b64 = der.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return '-----BEGIN ' + label + '-----\n' + body + '-----END ' + label + '-----\n';
}

const SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const PKCS8_PREFIX = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
const PKCS8_PUBLIC_PREFIX = Buffer.from('a144034200', 'hex');
function generateKey(algorithm) {
  if (algorithm === 'rsa-2048') {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'der' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    // SPKI ::= SEQUENCE { AlgorithmIdentifier, BIT STRING }: the key bits follow the unused-bits byte.
    const outer = readElement(publicKey, 0);
    const algorithm = readElement(publicKey, outer.contentStart);
    const bitString = readElement(publicKey, algorithm.end);
    return { spki: publicKey, bits: publicKey.subarray(bitString.contentStart + 1, bitString.end), keyPem: privateKey };
  }
  const ecdh = crypto.createECDH('prime256v1');
  const point = ecdh.generateKeys();
  const scalar = ecdh.getPrivateKey();
  const d = scalar.length === 32 ? scalar : Buffer.concat([Buffer.alloc(32 - scalar.length), scalar]);
  const pkcs8 = Buffer.concat([PKCS8_PREFIX, d, PKCS8_PUBLIC_PREFIX, point]);
  return { spki: Buffer.concat([SPKI_PREFIX, point]), bits: point, keyPem: pem('PRIVATE KEY', pkcs8) };
}

let template;
function useTemplate(t) {
  template = {
    id: t.id,
    key: crypto.createPrivateKey(t.issuerKeyPem),
    hash: t.hash,
    version: Buffer.from(t.versionDer),
    sigAlg: Buffer.from(t.signatureAlgorithmDer),
    issuer: Buffer.from(t.issuerNameDer),
    fixed: Buffer.from(t.fixedExtensionsDer),
  };
}
function issue(job) {
  const key = generateKey(job.keyAlgorithm);
  const uri = Buffer.from(job.spiffeId, 'ascii');
  const san = ext(OID_SAN, true, seq(tlv(0x86, uri)));
  const ski = ext(OID_SKI, false, tlv(0x04, crypto.createHash('sha1').update(key.bits).digest()));
  const tbs = seq(
    template.version,
    uint(Buffer.from(job.serial, 'hex')),
    template.sigAlg,
    template.issuer,
    seq(time(job.notBefore), time(job.notAfter)),
    seq(),
    key.spki,
    tlv(0xa3, seq(san, template.fixed, ski)),
  );
  const signature = crypto.sign(template.hash, tbs, template.key);
  const cert = seq(tbs, template.sigAlg, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return { certPem: pem('CERTIFICATE', cert), keyPem: key.keyPem };
}

parentPort.on('message', (message) => {
  try {
    if (message.template) useTemplate(message.template);
    if (!template || template.id !== message.templateId) throw new Error('issuance worker: unknown template ' + message.templateId);
    parentPort.postMessage({ id: message.id, results: message.jobs.map(issue) });
  } catch (err) {
    parentPort.postMessage({ id: message.id, error: String(err && err.message ? err.message : err) });
  }
});
`;
