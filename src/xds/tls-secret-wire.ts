import { TypeUrl, type EncodedResource } from './contract.js';
import { encodeAnyInPlace, lengthDelimitedLength, repeatedStringLength, writeLengthDelimitedHeader, writeString } from './wire.js';
import { contentVersion } from './versions.js';

/**
 * `envoy.extensions.transport_sockets.tls.v3.Secret` holding a certificate chain and its key
 * inline, written straight to wire bytes. Every proxy gets one of its own, so a fleet's start
 * encodes one per proxy; this takes about 60 % of the general encoder's time (checks and
 * protobufjs; the content hash and the copy into the Any are the rest). The bytes are the general
 * encoder's (test/xds/unit/tls-secret-wire.test.ts compares them).
 */
export interface InlineTlsCertificateSecret {
  readonly name: string;
  readonly tls_certificate: {
    readonly certificate_chain: { readonly inline_string: string };
    readonly private_key: { readonly inline_string: string };
  };
}

/** Field numbers: envoy/extensions/transport_sockets/tls/v3/{secret,common}.proto, envoy/config/core/v3/base.proto. */
const SECRET_NAME = 1;
const SECRET_TLS_CERTIFICATE = 2;
const TLS_CERTIFICATE_CHAIN = 1;
const TLS_PRIVATE_KEY = 2;
const DATA_SOURCE_INLINE_STRING = 3;

export function isInlineTlsCertificateSecret(secret: object): secret is InlineTlsCertificateSecret {
  const candidate = secret as Partial<InlineTlsCertificateSecret>;
  const certificate = candidate.tls_certificate;
  return (
    Object.keys(secret).length === 2 &&
    typeof candidate.name === 'string' &&
    certificate !== undefined &&
    Object.keys(certificate).length === 2 &&
    typeof certificate.certificate_chain?.inline_string === 'string' &&
    Object.keys(certificate.certificate_chain).length === 1 &&
    typeof certificate.private_key?.inline_string === 'string' &&
    Object.keys(certificate.private_key).length === 1
  );
}

/** The encoded resource, named `resourceName`; the Secret's own `name` field is `secret.name`, as the general encoder writes it. */
export function encodeInlineTlsCertificateSecret(resourceName: string, secret: InlineTlsCertificateSecret): EncodedResource {
  const chain = secret.tls_certificate.certificate_chain.inline_string;
  const key = secret.tls_certificate.private_key.inline_string;
  // Present fields are written even when empty, as protobufjs does for a property that is set.
  const chainSource = repeatedStringLength(DATA_SOURCE_INLINE_STRING, chain);
  const keySource = repeatedStringLength(DATA_SOURCE_INLINE_STRING, key);
  const certificate = lengthDelimitedLength(TLS_CERTIFICATE_CHAIN, chainSource) + lengthDelimitedLength(TLS_PRIVATE_KEY, keySource);
  // Written straight into the Any: no intermediate copy of the private key to zero afterwards.
  const secretLength = repeatedStringLength(SECRET_NAME, secret.name) + lengthDelimitedLength(SECRET_TLS_CERTIFICATE, certificate);
  const any = encodeAnyInPlace(TypeUrl.Secret, secretLength, (out, start) => {
    let at = writeString(out, start, SECRET_NAME, secret.name);
    at = writeLengthDelimitedHeader(out, at, SECRET_TLS_CERTIFICATE, certificate);
    at = writeString(out, writeLengthDelimitedHeader(out, at, TLS_CERTIFICATE_CHAIN, chainSource), DATA_SOURCE_INLINE_STRING, chain);
    return writeString(out, writeLengthDelimitedHeader(out, at, TLS_PRIVATE_KEY, keySource), DATA_SOURCE_INLINE_STRING, key);
  });
  return { name: resourceName, typeUrl: TypeUrl.Secret, version: contentVersion(any), any };
}
