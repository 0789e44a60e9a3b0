export { MeshTranslator } from './translator.js';
export {
  UnknownWorkloadError,
  flavourOf,
  type Flavour,
  type MeshInput,
  type ProxyResources,
  type Resource,
  type Translation,
  type TranslationNote,
} from './types.js';
export * as meshNames from './names.js';
