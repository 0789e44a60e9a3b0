import { SDS_CERTIFICATE_NAME, SDS_ROOT_CA_NAME } from '../names.js';
import { deepFreeze } from '../../core/deep-freeze.js';

/**
 * The two SdsSecretConfigs. Envoy keys SDS subscriptions by ConfigSource bytes + name, so each is
 * built once and reused byte for byte everywhere (changing them starves subscribers: envoy#47309).
 */
function sdsSecretConfig(name: string): Readonly<Record<string, unknown>> {
  return deepFreeze({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });
}

export const SDS_CERTIFICATE = sdsSecretConfig(SDS_CERTIFICATE_NAME);
export const SDS_ROOT_CA = sdsSecretConfig(SDS_ROOT_CA_NAME);
