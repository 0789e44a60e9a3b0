/**
 * Encodes a proto-JSON resource with protobufjs against Envoy's own protos and reports every
 * field that does not survive fromObject → encode → decode → toObject (unknown names, wrong
 * shapes, dropped values), following Any values via their '@type'.
 */
import type protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../../src/xds/envoy-proto-loader.js';

export class ProtoChecker {
  private readonly root: protobuf.Root = loadEnvoyProtos();

  problems(typeUrl: string, resource: Readonly<Record<string, unknown>>): string[] {
    const type = this.root.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
    const message = type.fromObject(resource);
    const invalid = type.verify(message);
    const decoded = type.decode(type.encode(message).finish());
    const back = type.toObject(decoded, { longs: Number, enums: String, bytes: String, json: true, arrays: true });
    const problems: string[] = invalid ? [`verify: ${invalid}`] : [];
    compare(resource, back, '', problems);
    return problems;
  }
}

function compare(expected: unknown, actual: unknown, path: string, problems: string[]): void {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      problems.push(`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
      return;
    }
    expected.forEach((item, i) => compare(item, actual[i], `${path}[${i}]`, problems));
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      problems.push(`${path}: expected an object, got ${JSON.stringify(actual)}`);
      return;
    }
    const got = actual as Record<string, unknown>;
    for (const [key, value] of Object.entries(expected)) {
      if (!(key in got)) problems.push(`${path}.${key}: dropped (unknown field or wrong type)`);
      else compare(value, got[key], `${path}.${key}`, problems);
    }
    return;
  }
  if (expected !== actual) problems.push(`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}
