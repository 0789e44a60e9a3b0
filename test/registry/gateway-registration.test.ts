import { describe, expect, it } from 'vitest';
import { parseRegistration } from '../../src/registry/registration.js';
import { validateWorkload } from '../../src/registry/workload-validation.js';

const fixedId = () => 'x1y2z3';
const base = { service: 'edge', namespace: 'shop', address: '10.0.0.9', port: 15000 };

describe('registering an ingress gateway', () => {
  it('marks the workload as a gateway, with the default certificate directory', () => {
    const result = parseRegistration({ ...base, gateway: {} }, fixedId);
    expect(result.ok && result.workload.gateway).toEqual({ certificateDirectory: '/etc/accord/gateway-certs' });
    expect(result.ok && validateWorkload(result.workload)).toEqual([]);
  });

  it('takes a certificate directory, trailing slashes dropped', () => {
    const result = parseRegistration({ ...base, gateway: { certificateDirectory: '/srv/edge/certs/' } }, fixedId);
    expect(result.ok && result.workload.gateway).toEqual({ certificateDirectory: '/srv/edge/certs' });
  });

  it('a plain registration is no gateway', () => {
    const result = parseRegistration(base, fixedId);
    expect(result.ok && 'gateway' in result.workload).toBe(false);
  });

  it.each([
    [{ gateway: true }, 'gateway', 'must be an object'],
    [{ gateway: { certificateDirectory: 'relative/dir' } }, 'gateway.certificateDirectory', 'must be an absolute path'],
    [{ gateway: { certificateDirectory: '/etc/../root' } }, 'gateway.certificateDirectory', 'without ".."'],
    [{ gateway: { certificateDirectory: '/etc/certs\nx' } }, 'gateway.certificateDirectory', 'must be an absolute path'],
    [{ gateway: { certificateDirectory: `/${'a'.repeat(1100)}` } }, 'gateway.certificateDirectory', 'at most 1024'],
    [{ gateway: { certs: '/x' } }, 'gateway.certs', 'unknown field'],
  ])('refuses %j with the field named', (extra, field, message) => {
    const result = parseRegistration({ ...base, ...extra }, fixedId);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([expect.objectContaining({ field, message: expect.stringContaining(message) })]);
  });

  it('stores refuse a malformed gateway role like any other field', () => {
    const ok = parseRegistration({ ...base, gateway: {} }, fixedId);
    if (!ok.ok) throw new Error('registration failed');
    expect(validateWorkload({ ...ok.workload, gateway: { certificateDirectory: 'x' } }).map((error) => error.field)).toEqual(['gateway.certificateDirectory']);
  });
});
