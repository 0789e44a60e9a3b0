import { sameElements } from './object-reuse.js';

/**
 * Which proxies depend on which services (their upstreams, and the callers their policies name),
 * so a change can be routed to the proxies it touches instead of visiting every proxy.
 */
export class DependentIndex {
  private readonly byService = new Map<string, Set<string>>();
  private readonly byProxy = new Map<string, { readonly workloadId: string; readonly services: readonly string[] }>();
  /** Proxies whose inputs are more than their services (gateways): every change may touch them. */
  private readonly always = new Map<string, string>();

  track(proxy: string, workloadId: string, services: readonly string[]): void {
    const previous = this.byProxy.get(proxy);
    if (previous && previous.workloadId === workloadId && sameElements(previous.services, services)) return;
    this.untrack(proxy);
    this.byProxy.set(proxy, { workloadId, services });
    for (const service of services) {
      let proxies = this.byService.get(service);
      if (!proxies) {
        proxies = new Set();
        this.byService.set(service, proxies);
      }
      proxies.add(proxy);
    }
  }

  trackAlways(proxy: string, workloadId: string): void {
    this.untrack(proxy);
    this.always.set(proxy, workloadId);
  }

  untrack(proxy: string): void {
    this.always.delete(proxy);
    const previous = this.byProxy.get(proxy);
    if (!previous) return;
    this.byProxy.delete(proxy);
    for (const service of previous.services) {
      const proxies = this.byService.get(service);
      proxies?.delete(proxy);
      if (proxies?.size === 0) this.byService.delete(service);
    }
  }

  /** Workloads with a proxy depending on any of these services, plus those depending on everything. */
  workloadsDependingOn(services: Iterable<string>, into: Set<string>): void {
    for (const workloadId of this.always.values()) into.add(workloadId);
    for (const service of services) {
      for (const proxy of this.byService.get(service) ?? []) {
        const entry = this.byProxy.get(proxy);
        if (entry) into.add(entry.workloadId);
      }
    }
  }
}
