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
