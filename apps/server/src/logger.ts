import type { Logger } from '@tidewire/wire';
import { pino } from 'pino';
import pretty from 'pino-pretty';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * A pino logger on stderr as the Tidewire `Logger`: JSON lines, or
 * human-readable lines when `pretty` is 'always', or 'auto' on a terminal.
 */
export function createLogger(level: LogLevel, mode: 'auto' | 'always' | 'never' = 'auto'): Logger {
  const usePretty = mode === 'always' || (mode === 'auto' && process.stderr.isTTY === true);
  const destination = usePretty
    ? pretty({ destination: 2, colorize: process.stderr.isTTY === true, sync: true })
    : pino.destination({ fd: 2, sync: true });
  const log = pino({ level, base: { pid: process.pid } }, destination);
  return {
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
  };
}
