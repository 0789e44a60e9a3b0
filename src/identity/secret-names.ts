import { meshNames } from '../mesh/index.js';

/** The SDS secret names every proxy's resources reference (one naming module: src/mesh/names.ts). */
export const DEFAULT_SECRET = meshNames.SDS_CERTIFICATE_NAME;
export const ROOTCA_SECRET = meshNames.SDS_ROOT_CA_NAME;
