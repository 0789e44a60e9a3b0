/** `kind: UpstreamPolicy`: upstreams added to every workload of a source service. */
import { z } from 'zod';
import type { UpstreamPolicySpec } from '../../core/policy.js';
import { expecting, name, port } from './common.js';

const upstreamSchema = z.strictObject(
  {
    service: name(),
    namespace: name().optional(),
    localPort: port(),
  },
  expecting('a mapping'),
);

export const upstreamPolicySpecSchema = z
  .strictObject(
    {
      source: name(),
      upstreams: z.array(upstreamSchema, expecting('a list of upstreams')).min(1, expecting('at least one upstream')),
    },
    expecting('a mapping'),
  )
  .superRefine((spec, context) => {
    const seen = new Map<number, number>();
    spec.upstreams.forEach((upstream, index) => {
      const first = seen.get(upstream.localPort);
      if (first === undefined) seen.set(upstream.localPort, index);
      else {
        context.addIssue({
          code: 'custom',
          path: ['upstreams', index, 'localPort'],
          message: `localPort ${upstream.localPort} is already used by upstreams[${first}]`,
        });
      }
    });
  })
  .transform(
    (raw): UpstreamPolicySpec => ({
      source: raw.source,
      upstreams: raw.upstreams.map((upstream) => ({
        service: upstream.service,
        ...(upstream.namespace !== undefined && { namespace: upstream.namespace }),
        localPort: upstream.localPort,
      })),
    }),
  );
