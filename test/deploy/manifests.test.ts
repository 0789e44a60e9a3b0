import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';

const DEPLOY = path.resolve(import.meta.dirname, '../../deploy');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : [full];
  });
}

/** Every string in a parsed manifest, depth first. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** `accord <words...>` invocations found in manifests: container command/args arrays and shell text. */
function accordInvocations(file: string): string[][] {
  const text = readFileSync(file, 'utf8');
  const found: string[][] = [];
  const shellLines = (script: string): void => {
    const joined = script.replace(/\\\n/g, ' ');
    for (const line of joined.split('\n')) {
      const match = /(?:^|[\s;&|(])accord\s+(.*)$/.exec(line.trim());
      if (match) found.push(['accord', ...(match[1] ?? '').split(/\s+/).filter(Boolean)]);
    }
  };
  if (file.endsWith('.sh')) {
    shellLines(text);
    return found;
  }
  for (const doc of parseAllDocuments(text)) {
    expect(doc.errors, `${file}: YAML errors`).toEqual([]);
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) {
        node.forEach(visit);
        return;
      }
      if (!node || typeof node !== 'object') return;
      const record = node as Record<string, unknown>;
      const command = record.command ?? record.entrypoint;
      if (Array.isArray(command) && command[0] === 'accord') {
        found.push([...(command as string[]), ...((record.args as string[] | undefined) ?? [])]);
      }
      for (const value of Object.values(record)) visit(value);
    };
    visit(doc.toJSON());
    for (const value of strings(doc.toJSON())) if (value.includes('\n') || value.includes('accord ')) shellLines(value);
  }
  return found;
}

function resolve(program: Command, words: string[]): { command: Command; rest: string[] } {
  let command = program;
  let i = 0;
  while (i < words.length) {
    const sub = command.commands.find((c) => c.name() === words[i]);
    if (!sub) break;
    command = sub;
    i += 1;
  }
  return { command, rest: words.slice(i) };
}

describe('deployment manifests', () => {
  const all = files(DEPLOY).filter((f) => /\.(ya?ml|sh)$/.test(f));

  it('parse as YAML and reference only accord commands and flags that --help lists', () => {
    const program = buildProgram();
    let invocations = 0;
    for (const file of all) {
      for (const words of accordInvocations(file)) {
        invocations += 1;
        const { command, rest } = resolve(program, words.slice(1));
        expect(command, `${file}: "${words.join(' ')}" names no accord command`).not.toBe(program);
        const help = command.helpInformation();
        for (const word of rest) {
          if (!word.startsWith('--')) continue;
          const flag = word.split('=')[0] as string;
          expect(help, `${file}: "accord ${command.name()}" has no ${flag} in its --help`).toContain(flag);
        }
      }
    }
    // serve (k8s + compose), register/bootstrap/ca bundle (k8s init container + compose script)
    expect(invocations).toBeGreaterThanOrEqual(7);
  });

  it('run the control plane with 3 replicas, readiness on /readyz and a Service', () => {
    const docs = parseAllDocuments(readFileSync(path.join(DEPLOY, 'kubernetes/40-control-plane.yaml'), 'utf8')).map((d) => d.toJSON());
    const deployment = docs.find((d) => d.kind === 'Deployment');
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.template.spec.containers[0].readinessProbe.httpGet.path).toBe('/readyz');
    expect(docs.some((d) => d.kind === 'Service')).toBe(true);
  });
});
