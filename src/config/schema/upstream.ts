/** `kind: UpstreamPolicy`: upstreams added to every workload of a source service. */
import { z } from 'zod';
import type { UpstreamPolicySpec } from '../../core/policy.js';
import { expecting, nonEmptyList, port, reportDuplicates, serviceName } from './common.js';

const upstreamSchema = z.strictObject(
  {
    service: serviceName(),
    namespace: serviceName().optional(),
    localPort: port(),
  },
  expecting('a mapping'),
);

export const upstreamPolicySpecSchema = z
  .strictObject(
    {
      source: serviceName(),
      upstreams: nonEmptyList(upstreamSchema, 'upstreams').superRefine(
          reportDuplicates('upstreams', (upstream) => upstream.localPort, 'localPort', (upstream) => `localPort ${upstream.localPort} is already used`),
        ),
    },
    expecting('a mapping'),
  )
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
