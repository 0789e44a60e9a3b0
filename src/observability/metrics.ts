import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One Prometheus registry per process, created by the composition root and handed to every
 * component that exports metrics. Components register their own metrics on it.
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'accord_process_' });
  return registry;
}

export type { Registry } from 'prom-client';
