import type { Logger } from '@tidewire/wire';

/** One JSON line per log record on stderr; `level` filters. */
export function createConsoleLogger(level: 'debug' | 'info' | 'warn' | 'error' = 'info'): Logger {
  const order = ['debug', 'info', 'warn', 'error'] as const;
  const min = order.indexOf(level);
  const write =
    (name: (typeof order)[number]) =>
    (message: string, fields?: Record<string, unknown>): void => {
      process.stderr.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: name, msg: message, ...fields })}\n`,
      );
    };
  const logger: Logger = {};
  for (const name of order) if (order.indexOf(name) >= min) logger[name] = write(name);
  return logger;
}
