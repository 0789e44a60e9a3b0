import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { VerifiedWorkload } from '../identity/workload-access.js';
import { clip } from '../observability/clip.js';
import type { Logger } from '../observability/logger.js';
import { StreamRefusedError, type StreamContext } from '../xds/contract.js';

/** Who a stream's token names, and whether it may still be served (src/identity/workload-access.ts). */
export interface StreamAccessCheck {
  /**
   * Verifies a workload token, its deny-list entries and its workload's revocation; throws with a
   * reason on failure (an error with code `REVOKED` for a revoked workload).
   */
  verifyToken(token: string, now: number): Promise<VerifiedWorkload>;
  /** Why a stream opened with these claims may no longer be served (revoked, token denied), or undefined. */
  streamDenial(claims: VerifiedWorkload): string | undefined;
}

export interface StreamAuthenticationDeps {
  readonly access: StreamAccessCheck;
  /** Whether streams without a token get config (never secrets): `Mesh.allowAnonymousConfig`. */
  readonly allowAnonymous: () => boolean;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Registry;
}

function bearerToken(context: StreamContext): string | undefined {
  const value = context.metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1];
}

/**
 * Binds each xDS stream, as it opens, to the workload its token names (its node id must be that
 * workload), and re-checks it when revocations or the token deny-list change. Every refusal is
 * counted and logged with why.
 */
export class StreamAuthentication {
  private readonly denials: Counter<'reason'>;
  private readonly log: Logger;

  constructor(private readonly deps: StreamAuthenticationDeps) {
    this.log = deps.logger.child({ component: 'mesh-source' });
    this.denials = new Counter({
      name: 'accord_stream_auth_denied_total',
      help: 'xDS streams refused at authentication, by reason',
      labelNames: ['reason'],
      registers: [deps.metrics],
    });
  }

  /** The stream's verified workload, or undefined for an anonymous stream; throws StreamRefusedError. */
  async authenticate(context: StreamContext): Promise<VerifiedWorkload | undefined> {
    const now = this.deps.clock.now();
    const token = bearerToken(context);
    const nodeId = context.node.id;
    if (token === undefined) {
      if (this.deps.allowAnonymous()) return undefined;
      const reason = 'no workload token ("authorization: Bearer <token>" metadata) and anonymous access is disabled';
      this.deny('no_token', nodeId, context.peer, reason);
      throw new StreamRefusedError('UNAUTHENTICATED', reason);
    }
    let claims: VerifiedWorkload;
    try {
      claims = await this.deps.access.verifyToken(token, now);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const revoked = (error as { code?: unknown }).code === 'REVOKED';
      this.deny(revoked ? 'revoked' : 'bad_token', nodeId, context.peer, reason);
      throw new StreamRefusedError(revoked ? 'PERMISSION_DENIED' : 'UNAUTHENTICATED', `workload token rejected: ${reason}`);
    }
    if (claims.workloadId !== nodeId) {
      const reason = `node.id "${clip(nodeId)}" does not match the token's workload "${claims.workloadId}"`;
      this.deny('node_mismatch', nodeId, context.peer, reason);
      throw new StreamRefusedError('PERMISSION_DENIED', reason);
    }
    return claims;
  }

  /** Why an open stream with these claims may no longer be served (logged and counted), or undefined. */
  recheck(workloadId: string, claims: VerifiedWorkload): string | undefined {
    const reason = this.deps.access.streamDenial(claims);
    if (reason !== undefined) this.deny('revoked_while_open', workloadId, '', reason);
    return reason;
  }

  private deny(reason: string, nodeId: string, peer: string, detail: string): void {
    this.denials.inc({ reason });
    this.log.warn({ nodeId: clip(nodeId), peer, reason, detail: clip(detail, 512) }, 'xDS stream refused');
  }
}
