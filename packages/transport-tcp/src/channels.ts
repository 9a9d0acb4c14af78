import * as diagnosticsChannel from 'node:diagnostics_channel';
import type { TcpConnection } from './connection.ts';

/** Published once per connection, when it is set up (accepted or dialed). */
export interface TcpConnectionMessage {
  connection: TcpConnection;
}

/** Published once per connection, when its socket is gone. */
export interface TcpCloseMessage {
  connection: TcpConnection;
  code: string;
  reason: string;
  remote: boolean;
}

/** Published per socket read (`in`) and per `send` (`out`), only while someone listens. */
export interface TcpBytesMessage {
  connection: TcpConnection;
  direction: 'in' | 'out';
  bytes: number;
}

/** Channel names, as constants for subscribers. */
export const TcpChannel = {
  Connection: 'tidewire:tcp:connection',
  Close: 'tidewire:tcp:close',
  Bytes: 'tidewire:tcp:bytes',
} as const;

export const connectionChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  TcpChannel.Connection,
);
export const closeChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  TcpChannel.Close,
);
export const bytesChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  TcpChannel.Bytes,
);

/**
 * Bytes read and written by every Tidewire TCP connection of this process
 * (listeners' and dialers'), counted always: two additions per read or
 * write, so that metrics can read totals at scrape time instead of
 * subscribing to `tidewire:tcp:bytes` on the hot path.
 */
export interface TcpByteTotals {
  readonly in: number;
  readonly out: number;
}

export const byteTotals: { in: number; out: number } = { in: 0, out: 0 };

/** Bytes read (`in`) and written (`out`) by this process's Tidewire TCP connections so far. */
export function tcpByteTotals(): TcpByteTotals {
  return { in: byteTotals.in, out: byteTotals.out };
}
