/**
 * Load generator for bench/registry-http: runs in its own process (so the client's CPU is not the
 * server's) and POSTs N registrations with C in flight over keep-alive connections.
 * argv: <url> <n> <concurrency> <token>; prints one JSON line {perSecond, failures}.
 */
import { Agent, request } from 'node:http';

async function main(): Promise<void> {
  const [url, nArg, concurrencyArg, token] = process.argv.slice(2);
  if (!url || !nArg || !concurrencyArg || !token) throw new Error('usage: http-load <url> <n> <concurrency> <token>');
  const target = new URL(url);
  const n = Number(nArg);
  const concurrency = Number(concurrencyArg);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const one = (i: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ service: `load-${i % 20}`, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080 });
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const status = await one(next++).catch(() => 0);
        if (status !== 201) failures += 1;
      }
    }),
  );
  const perSecond = n / ((performance.now() - started) / 1000);
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ perSecond, failures })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
