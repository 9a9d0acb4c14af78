import * as diagnosticsChannel from 'node:diagnostics_channel';
import type { WsConnection } from './connection.ts';

/** Published once per connection, when it is set up. */
export interface WsConnectionMessage {
  connection: WsConnection;
}

/** Published once per connection, when it is gone. */
export interface WsCloseMessage {
  connection: WsConnection;
  code: string;
  reason: string;
  remote: boolean;
}

/** Published when an upgrade is refused (bad path, Origin, hook, limit). */
export interface WsRejectMessage {
  remoteAddress: string;
  status: number;
  reason: string;
}

export const WsChannel = {
  Connection: 'tidewire:ws:connection',
  Close: 'tidewire:ws:close',
  Reject: 'tidewire:ws:reject',
} as const;

export const connectionChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  WsChannel.Connection,
);
export const closeChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(WsChannel.Close);
export const rejectChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  WsChannel.Reject,
);
