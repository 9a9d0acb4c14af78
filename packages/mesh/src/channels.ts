import * as diagnosticsChannel from 'node:diagnostics_channel';

/** Channel names, as constants for subscribers. */
export const MeshChannel = {
  /** `{ nodeId, event: 'registered' | 'updated' | 'deregistered' }`, for this mesh's own node. */
  Node: 'tidewire:mesh:node',
  /** `{ nodeId, kind: 'message' | 'user', from, topic? }` per message received from the bus. */
  Message: 'tidewire:mesh:message',
  /** `{ nodeId, reason, bytes }` per bus message dropped as malformed or unexpected. */
  Dropped: 'tidewire:mesh:dropped',
  /** `{ nodeId, event: 'down' | 'up', error? }` when the connection to Redis is lost or restored. */
  Connection: 'tidewire:mesh:connection',
} as const;

export interface MeshNodeEvent {
  nodeId: string;
  event: 'registered' | 'updated' | 'deregistered';
}

export interface MeshMessageEvent {
  nodeId: string;
  kind: 'message' | 'user';
  from: string;
  topic?: string;
}

export interface MeshDroppedEvent {
  nodeId: string;
  reason: string;
  bytes: number;
}

export interface MeshConnectionEvent {
  nodeId: string;
  event: 'down' | 'up';
  error?: unknown;
}

export const nodeChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(MeshChannel.Node);
export const messageChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  MeshChannel.Message,
);
export const droppedChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  MeshChannel.Dropped,
);
export const connectionChannel: diagnosticsChannel.Channel = diagnosticsChannel.channel(
  MeshChannel.Connection,
);
