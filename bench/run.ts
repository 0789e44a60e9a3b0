/**
 * Benchmark dispatcher: `node dist/bench/run.js <name> [args]` imports `./<name>.js` and calls its
 * exported `run(argv)`. With no name it lists the benchmarks (every top-level module here but
 * this one; helper processes live under `workers/`).
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface BenchModule {
  run?: (argv: string[]) => Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));

async function available(): Promise<string[]> {
  const files = await readdir(here);
  return files
    .filter((f) => f.endsWith('.js') && f !== 'run.js')
    .map((f) => f.slice(0, -'.js'.length))
    .sort();
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const names = await available();
  if (!name || name === '--help' || name === '-h') {
    console.log('usage: npm run bench -- <name> [--quick] [args]');
    console.log(`benchmarks: ${names.join(', ') || '(none built)'}`);
    return;
  }
  if (!names.includes(name)) {
    throw new Error(`unknown benchmark "${name}"; available: ${names.join(', ')}`);
  }
  const mod = (await import(pathToFileURL(path.join(here, `${name}.js`)).href)) as BenchModule;
  if (typeof mod.run !== 'function') throw new Error(`benchmark "${name}" does not export run(argv)`);
  await mod.run(rest);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
