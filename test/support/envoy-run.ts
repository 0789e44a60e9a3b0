/**
 * One directory per test run for the Envoys it starts (each in its own sub-directory with its
 * bootstrap, log and pid file). The global teardown sweeps it: any Envoy still running (a worker
 * that crashed or was killed before its afterAll) is killed by its recorded pid, and the logs
 * that suites kept because a test failed are listed.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOG_FILE, PID_FILE } from '../../src/envoy/index.js';

export function startEnvoyRun(): string {
  return mkdtempSync(path.join(tmpdir(), 'accord-envoy-run-'));
}

function isRunningEnvoy(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0].endsWith('envoy');
  } catch {
    return false;
  }
}

export function sweepEnvoyRun(runDir: string): { killed: number[]; keptLogs: string[] } {
  const killed: number[] = [];
  const keptLogs: string[] = [];
  if (!existsSync(runDir)) return { killed, keptLogs };
  for (const entry of readdirSync(runDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(runDir, entry.name);
    const pidFile = path.join(dir, PID_FILE);
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && isRunningEnvoy(pid)) {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      }
    }
    if (existsSync(path.join(dir, LOG_FILE))) keptLogs.push(path.join(dir, LOG_FILE));
  }
  if (readdirSync(runDir).length === 0) rmdirSync(runDir);
  return { killed, keptLogs };
}
