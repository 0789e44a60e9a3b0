import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestAccord, type TestAccord } from './harness.js';

const traffic = (name: string, timeout: string): string =>
  `apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: ${name} }\nspec: { target: ${name}, requestTimeout: ${timeout} }\n`;

interface ChangeBody {
  applied: boolean;
  unchanged: boolean;
  revision: number;
  changes: { name: string; action: string }[];
}

describe('the per-object policy API', () => {
  let accord: TestAccord;
  const documents = async (): Promise<string[]> =>
    ((await api(accord, 'GET', '/v1/policies')).body as { documents: { metadata: { name: string } }[] }).documents.map((d) => d.metadata.name).sort();

  beforeAll(async () => {
    accord = await startTestAccord();
  });
  afterAll(async () => {
    await accord.close();
  });

  it('PUT, GET and DELETE one object by kind, namespace and name', async () => {
    const put = await api(accord, 'PUT', '/v1/policies/TrafficPolicy/default/alpha?allowUnknownTargets=true', { yaml: traffic('alpha', '1s') });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({ applied: true, changes: [{ name: 'alpha', action: 'created' }] });
    const got = await api(accord, 'GET', '/v1/policies/trafficpolicy/default/alpha');
    expect(got.body).toMatchObject({ kind: 'TrafficPolicy', metadata: { name: 'alpha', revision: (put.body as ChangeBody).revision } });

    const mismatch = await api(accord, 'PUT', '/v1/policies/TrafficPolicy/default/beta?allowUnknownTargets=true', { yaml: traffic('alpha', '2s') });
    expect(mismatch.status).toBe(400);
    expect((mismatch.body as { error: { message: string } }).error.message).toContain('the path names TrafficPolicy default/beta');

    expect((await api(accord, 'DELETE', '/v1/policies/TrafficPolicy/default/alpha')).status).toBe(200);
    expect((await api(accord, 'GET', '/v1/policies/TrafficPolicy/default/alpha')).status).toBe(404);
    expect((await api(accord, 'DELETE', '/v1/policies/TrafficPolicy/default/alpha')).status).toBe(404);
    expect((await api(accord, 'DELETE', '/v1/policies/TrafficPolicy/default/alpha?ignoreMissing=true')).status).toBe(200);
    expect((await api(accord, 'DELETE', '/v1/policies/Frobnicator/default/alpha')).status).toBe(400);
  });

  it('concurrent applies of different objects all land (compare-and-set, re-planned on conflict)', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `svc${i}`);
    const results = await Promise.all(names.map((name) => api(accord, 'POST', '/v1/policies:apply?allowUnknownTargets=true', { yaml: traffic(name, '1s') })));
    for (const result of results) expect(result.status, result.text).toBe(200);
    expect(await documents()).toEqual(expect.arrayContaining(names));
    const deleted = await api(accord, 'POST', '/v1/policies:delete', { body: { policies: names.map((name) => ({ kind: 'TrafficPolicy', name })) } });
    expect(deleted.status, deleted.text).toBe(200);
    expect(await documents()).toEqual([]);
  });

  it('requires the operator token on every policy write', async () => {
    for (const [method, route] of [
      ['POST', '/v1/policies:apply'],
      ['POST', '/v1/policies:delete'],
      ['PUT', '/v1/policies'],
      ['PUT', '/v1/policies/TrafficPolicy/default/x'],
      ['DELETE', '/v1/policies/TrafficPolicy/default/x'],
    ] as const) {
      expect((await api(accord, method, route, { yaml: traffic('x', '1s'), token: null })).status, `${method} ${route}`).toBe(401);
    }
  });

  it('stored documents this version cannot read block per-object changes, not a whole-set replace', async () => {
    await accord.handle.store.putPolicies([{ apiVersion: 'accord.dev/v1', kind: 'Frobnicator', metadata: { name: 'x' }, spec: {} }]);
    const list = await api(accord, 'GET', '/v1/policies');
    expect(list.status).toBe(503);
    expect((list.body as { error: { message: string } }).error.message).toContain('replace them whole with PUT /v1/policies');
    expect((await api(accord, 'POST', '/v1/policies:apply?allowUnknownTargets=true', { yaml: traffic('a', '1s') })).status).toBe(503);
    const replaced = await api(accord, 'PUT', '/v1/policies?allowUnknownTargets=true', { yaml: traffic('a', '1s') });
    expect(replaced.status, replaced.text).toBe(200);
    expect(await documents()).toEqual(['a']);
  });
});
