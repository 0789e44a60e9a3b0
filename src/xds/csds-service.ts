import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { LogThrottle } from '../observability/log-throttle.js';
import type { StatusReaderCheck } from './contract.js';
import type { ClientStatusReporter, CsdsSubject } from './csds.js';
import type { XdsMetrics } from './metrics.js';
import { endWithError } from './end-call.js';
import { BadRequestError } from './requests.js';

type DuplexCall = grpc.ServerDuplexStream<Buffer, Buffer>;
type UnaryCall = grpc.ServerUnaryCall<Buffer, Buffer>;

const REFUSE_ALL: StatusReaderCheck = () => ({ code: 'UNAUTHENTICATED', reason: 'client status is not served: no status-reader check is configured' });

export interface ClientStatusServiceOptions {
  readonly reporter: ClientStatusReporter;
  readonly subjects: () => Iterable<CsdsSubject>;
  /** Who may read client status; without it nobody may. */
  readonly check: StatusReaderCheck | undefined;
  readonly logger: Logger;
  readonly metrics: XdsMetrics;
}

/**
 * CSDS (StreamClientStatus and FetchClientStatus). Every call passes the status-reader check
 * before it is read from; a refusal is logged with its reason and counted.
 */
export class ClientStatusService {
  private readonly streams = new Set<DuplexCall>();
  private readonly check: StatusReaderCheck;
  private readonly denials: LogThrottle;

  constructor(private readonly options: ClientStatusServiceOptions) {
    this.check = options.check ?? REFUSE_ALL;
    this.denials = new LogThrottle(options.logger);
  }

  stream(call: DuplexCall): void {
    const refusal = this.refused(call, 'StreamClientStatus');
    if (refusal) {
      endWithError(call, refusal.code, refusal.details);
      return;
    }
    this.streams.add(call);
    const forget = (): void => {
      this.streams.delete(call);
    };
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('finish', forget);
    call.on('error', forget);
    call.on('data', (bytes: Buffer) => {
      if (!this.streams.has(call)) return;
      try {
        call.write(this.answer(bytes));
      } catch (error) {
        forget();
        const { code, details } = this.failure(error);
        endWithError(call, code, details);
      }
    });
    call.on('end', () => {
      forget();
      call.end();
    });
  }

  fetch(call: UnaryCall, callback: grpc.sendUnaryData<Buffer>): void {
    const refusal = this.refused(call, 'FetchClientStatus');
    if (refusal) {
      callback(refusal);
      return;
    }
    try {
      callback(null, this.answer(call.request));
    } catch (error) {
      callback(this.failure(error));
    }
  }

  /** Ends every open CSDS stream (server shutdown). */
  closeAll(code: grpc.status, details: string): void {
    for (const call of [...this.streams]) endWithError(call, code, details);
    this.streams.clear();
  }

  private answer(bytes: Buffer): Buffer {
    return this.options.reporter.respond(bytes, this.options.subjects());
  }

  private refused(call: DuplexCall | UnaryCall, method: string): { code: grpc.status; details: string } | undefined {
    const peer = call.getPeer();
    let refusal;
    try {
      refusal = this.check({ peer, metadata: call.metadata });
    } catch (error) {
      this.options.logger.error({ err: error, peer, method }, 'status-reader check failed');
      refusal = { code: 'UNAUTHENTICATED' as const, reason: 'status-reader check failed' };
    }
    if (!refusal) return undefined;
    this.options.metrics.statusReaderDenied(refusal.code);
    this.denials.warn(refusal.code, { peer, method, code: refusal.code, reason: refusal.reason }, 'client status (CSDS) call denied');
    return { code: grpc.status[refusal.code], details: refusal.reason };
  }

  private failure(error: unknown): { code: grpc.status; details: string } {
    if (error instanceof BadRequestError) return { code: grpc.status.INVALID_ARGUMENT, details: error.message };
    this.options.logger.error({ err: error }, 'client status (CSDS) answer failed');
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }
}
