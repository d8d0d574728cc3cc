import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Creates the pino JSON logger a daemon passes down to its components. */
export function createLogger(name: string, level = process.env['VONODE_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name, level, base: { name, pid: process.pid } });
}

/** A logger that drops everything; for tests that do not inspect logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
