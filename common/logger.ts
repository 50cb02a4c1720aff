import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** A pino logger writing JSON lines to `destination` (default stderr). */
export function createLogger(options: { name: string; level?: string; destination?: DestinationStream } ): Logger {
  const level = options.level ?? process.env.PCISCHED_LOG_LEVEL ?? 'info';
  return pino({ name: options.name, level }, options.destination ?? pino.destination(2));
}

/** A logger that drops everything, for tests that do not inspect logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
