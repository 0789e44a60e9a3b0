/**
 * SDS Secret resources as plain objects with Envoy's snake_case field names
 * (`envoy.extensions.transport_sockets.tls.v3.Secret`), ready for protobufjs `fromObject`.
 */


export interface TlsCertificateSecret {
  readonly name: string;
  readonly tls_certificate: {
    readonly certificate_chain: { readonly inline_string: string };
    readonly private_key: { readonly inline_string: string };
  };
}

export interface ValidationContextSecret {
  readonly name: string;
  readonly validation_context: {
    readonly trusted_ca: { readonly inline_string: string };
    readonly crl?: { readonly inline_string: string };
    readonly only_verify_leaf_cert_crl?: boolean;
  };
}

export type SdsSecret = TlsCertificateSecret | ValidationContextSecret;

/** The proxy's own certificate chain (leaf + intermediates) and key. Contains a private key: never log. */
export function tlsCertificateSecret(name: string, chainPem: string, keyPem: string): TlsCertificateSecret {
  assertName(name);
  return {
    name,
    tls_certificate: {
      certificate_chain: { inline_string: chainPem },
      private_key: { inline_string: keyPem },
    },
  };
}

/**
 * The trusted roots, and the issuing CA's CRL if any. The CRL covers the leaf's CA only, so
 * `only_verify_leaf_cert_crl` must be set, or Envoy would demand a CRL for every CA level.
 */
export function validationContextSecret(name: string, bundlePem: string, crlPem?: string): ValidationContextSecret {
  assertName(name);
  if (!bundlePem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${name}.validation_context.trusted_ca: no PEM certificate`);
  return {
    name,
    validation_context: crlPem
      ? { trusted_ca: { inline_string: bundlePem }, crl: { inline_string: crlPem }, only_verify_leaf_cert_crl: true }
      : { trusted_ca: { inline_string: bundlePem } },
  };
}

export interface SdsSecretConfig {
  readonly name: string;
  readonly sds_config: { readonly ads: Readonly<Record<string, never>>; readonly resource_api_version: 'V3' };
}

function assertName(name: string): void {
  if (name.length === 0) throw new Error('secret name: must not be empty');
}

/**
 * The SdsSecretConfig that points at `name` over ADS. Deterministic and frozen: every call yields
 * the same content, so the encoded ConfigSource bytes never change for a name (invariant I2).
 */
export function sdsSecretConfig(name: string): SdsSecretConfig {
  assertName(name);
  return deepFreeze({ name, sds_config: { ads: {}, resource_api_version: 'V3' as const } });
}

/**
 * One frozen SdsSecretConfig per secret name, created on first use and then handed out as the same
 * object forever (invariant I2: a secret's name and ConfigSource bytes never change). Owned by the
 * composition root, which passes it to the translators.
 */
export class SdsSecretConfigs {
  private readonly configs = new Map<string, SdsSecretConfig>();

  get(name: string): SdsSecretConfig {
    assertName(name);
    let config = this.configs.get(name);
    if (!config) {
      config = sdsSecretConfig(name);
      this.configs.set(name, config);
    }
    return config;
  }
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) if (child && typeof child === 'object') deepFreeze(child as object);
  return Object.freeze(value);
}
