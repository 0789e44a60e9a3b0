import { PROTOCOLS, type Protocol, type Workload } from './workload.js';

export interface ProtocolVote {
  /** The protocol most workloads declare; ties go to the earlier entry of PROTOCOLS; `http` for none. */
  readonly protocol: Protocol;
  /** Whether the workloads disagree (a protocol change half rolled out). */
  readonly mixed: boolean;
}

/** The one "protocol of a service" rule: the registry's service list and the translator both use it. */
export function voteProtocol(workloads: Iterable<Pick<Workload, 'protocol'>>): ProtocolVote {
  const votes = new Map<Protocol, number>();
  for (const w of workloads) votes.set(w.protocol, (votes.get(w.protocol) ?? 0) + 1);
  let protocol: Protocol = 'http';
  let best = 0;
  for (const candidate of PROTOCOLS) {
    const count = votes.get(candidate) ?? 0;
    if (count > best) [protocol, best] = [candidate, count];
  }
  return { protocol, mixed: votes.size > 1 };
}
