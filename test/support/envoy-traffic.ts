/**
 * HTTP traffic through Envoy listeners, for suites that must show requests keep flowing: one GET
 * on a fresh or a kept-alive connection, and a request loop that counts every success and failure.
 */
import { Agent, request as httpRequest } from 'node:http';

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** One GET to `host:port` (default 127.0.0.1): `fresh` opens a new connection, otherwise `agent` (or Node's global agent) keeps it alive. */
export function httpGet(port: number, options: { fresh?: boolean; agent?: Agent; host?: string; path?: string; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: options.host ?? '127.0.0.1',
        port,
        path: options.path ?? '/',
        ...(options.fresh ? { agent: false } : options.agent ? { agent: options.agent } : {}),
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Requests in a loop through the given local ports until stopped, alternating a kept-alive
 * connection and a fresh one; a request succeeds when `ok(answer)` says so.
 */
export class RequestLoop {
  ok = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly done: Promise<void>;

  constructor(ports: readonly number[], ok: (answer: HttpAnswer) => boolean, pauseMs = 10) {
    this.done = (async () => {
      for (let i = 0; this.running; i++) {
        const port = ports[i % ports.length];
        try {
          const answer = await httpGet(port, i % 2 === 0 ? { fresh: true } : { agent: this.agent });
          if (ok(answer)) this.ok += 1;
          else this.failures.push(`:${port} HTTP ${answer.status} ${answer.body.slice(0, 100)}`);
        } catch (error) {
          this.failures.push(`:${port} ${(error as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    this.agent.destroy();
  }
}
