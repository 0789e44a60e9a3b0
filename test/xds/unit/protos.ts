import type protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../../src/xds/envoy-proto-loader.js';

let cached: protobuf.Root | undefined;

/** One proto Root per test file (loading takes a few hundred ms). */
export function envoyRoot(): protobuf.Root {
  cached ??= loadEnvoyProtos();
  return cached;
}
