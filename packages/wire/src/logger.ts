/**
 * The logger every Tidewire package accepts: any object with some of these
 * methods (pino, console, a test spy). Libraries never pick a logging library.
 */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}
