import { Writable } from 'node:stream';
import { pino } from 'pino';
import { REDACTED_PATHS, type Logger } from '../../src/observability/logger.js';

/** A pino logger (the production redaction paths) whose JSON lines are kept in `lines`. */
export function capturedLogger(level = 'debug'): { logger: Logger; lines: string[]; bytes: () => number } {
  const lines: string[] = [];
  let total = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(line);
      callback();
    },
  });
  const logger = pino({ level, redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' } }, sink);
  return { logger, lines, bytes: () => total };
}
