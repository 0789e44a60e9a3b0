import { pino, type Logger, type DestinationStream, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log record.
 * Private keys, tokens and CSRs must never reach a log sink.
 */
export const REDACTED_PATHS: readonly string[] = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'privateKey',
  '*.privateKey',
  'key',
  '*.key',
  'keyPem',
  '*.keyPem',
  'privateKeyPem',
  '*.privateKeyPem',
  'kek',
  '*.kek',
  'apiToken',
  '*.apiToken',
];

export interface LoggerSettings {
  readonly level?: string;
  /** Write here instead of stdout (tests capture logs this way). */
  readonly destination?: DestinationStream;
  /** Pretty output; by default only when stdout is a TTY and no destination is given. */
  readonly pretty?: boolean;
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? process.env.ACCORD_LOG_LEVEL ?? 'info',
    base: { app: 'accord' },
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (settings.destination) return pino(options, settings.destination);
  const pretty = settings.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(options);
}

/** A logger that discards everything; for unit tests that do not inspect logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
