/**
 * Binding the server's ports with errors an operator can act on: "port 18000 on 127.0.0.1 is
 * already in use (--xds-port)" rather than grpc-js's "No address added out of total 1 resolved".
 */
import { createServer } from 'node:net';

/** A start-up failure that ends `accord serve`; its message is the one line the operator sees. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const message = (error as { message?: unknown }).message;
  // grpc-js folds the errno into its message: "... errors: [listen EADDRINUSE: address already in use ...]".
  return typeof message === 'string' ? /\b(E[A-Z]{4,})\b/.exec(message)?.[1] : undefined;
}

/** `what`: the flag that chose the port, e.g. `--xds-port`. */
export function listenFailure(error: unknown, host: string, port: number, what: string): StartupError {
  const where = `port ${port} on ${host}`;
  switch (errorCode(error)) {
    case 'EADDRINUSE':
      return new StartupError(`${where} is already in use (${what}): stop the other process or choose another port`, { cause: error });
    case 'EACCES':
      return new StartupError(`not allowed to listen on ${where} (${what}): ports below 1024 need privileges; choose another port`, { cause: error });
    case 'EADDRNOTAVAIL':
      return new StartupError(`cannot listen on ${host} (--host): no interface of this machine has that address`, { cause: error });
    default: {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      return new StartupError(`cannot listen on ${where} (${what}): ${reason}`, { cause: error });
    }
  }
}

/**
 * Fails early, and readably, when a port is taken. grpc-js reports a bind failure on its own log
 * as well as in its error; probing first keeps that raw line away from the operator.
 */
export async function assertPortFree(host: string, port: number, what: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error) => reject(listenFailure(error, host, port, what)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
