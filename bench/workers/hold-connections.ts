/**
 * Client for bench/envoy-connections, in its own process (its sockets count against its own
 * open-file limit, not the orchestrator's). Opens N connections to 127.0.0.1:<port> with
 * <inFlight> opening at a time; each must echo one line to count as established. Then holds them
 * all and waits for "check" on IPC: every held connection echoes a second line. Then "close".
 * argv: <port> <n> <inFlight>. IPC messages out: {phase:'open'|'check', ok, failed, errors, ms}.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

const TIMEOUT_MS = 60_000;

interface Held {
  socket: Socket;
  buffered: string;
  waiter?: (error?: Error) => void;
}

function echo(held: Held, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no echo within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    held.waiter = (error) => {
      clearTimeout(timer);
      held.waiter = undefined;
      if (error) reject(error);
      else resolve();
    };
    held.socket.write(`${line}\n`);
  });
}

function open(port: number): Promise<Held> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const held: Held = { socket, buffered: '' };
    socket.on('data', (chunk: Buffer) => {
      held.buffered += chunk.toString();
      if (held.buffered.includes('\n')) {
        held.buffered = held.buffered.slice(held.buffered.indexOf('\n') + 1);
        held.waiter?.();
      }
    });
    socket.on('error', (error) => held.waiter?.(error));
    socket.on('close', () => held.waiter?.(new Error('closed')));
    socket.once('connect', () => {
      echo(held, 'open').then(() => resolve(held), reject);
    });
    socket.once('error', reject);
  });
}

function tally(results: PromiseSettledResult<unknown>[]): { ok: number; failed: number; errors: Record<string, number> } {
  const errors: Record<string, number> = {};
  let ok = 0;
  for (const result of results) {
    if (result.status === 'fulfilled') ok++;
    else {
      const message = result.reason instanceof Error ? result.reason.message : String(result.reason);
      errors[message] = (errors[message] ?? 0) + 1;
    }
  }
  return { ok, failed: results.length - ok, errors };
}

async function main(): Promise<void> {
  const [port, n, inFlight] = process.argv.slice(2).map(Number);
  if (!port || !n || !inFlight) throw new Error('usage: hold-connections <port> <n> <inFlight>');
  const held: Held[] = [];
  const results: PromiseSettledResult<Held>[] = [];
  const started = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      next++;
      try {
        const h = await open(port);
        held.push(h);
        results.push({ status: 'fulfilled', value: h });
      } catch (error) {
        results.push({ status: 'rejected', reason: error });
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  process.send?.({ phase: 'open', ...tally(results), ms: performance.now() - started });
  process.on('message', (message: string) => {
    if (message === 'check') {
      const checkStarted = performance.now();
      void Promise.allSettled(held.map((h) => echo(h, 'check'))).then((checked) => {
        process.send?.({ phase: 'check', ...tally(checked), ms: performance.now() - checkStarted });
      });
    } else if (message === 'close') {
      for (const h of held) h.socket.destroy();
      process.exit(0);
    }
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
