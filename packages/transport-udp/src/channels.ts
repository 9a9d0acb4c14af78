import { channel } from 'node:diagnostics_channel';

/** `{ connection, side: 'server' | 'client' }` when a connection is established. */
export const connectionChannel: ReturnType<typeof channel> = channel('tidewire:udp:connection');
/** `{ connection, code, reason, remote }` when a connection ends. */
export const closeChannel: ReturnType<typeof channel> = channel('tidewire:udp:close');
/** `{ connection, seq, sends }` when a reliable piece is sent again. */
export const retransmitChannel: ReturnType<typeof channel> = channel('tidewire:udp:retransmit');
/** `{ reason, address, port }` when a received datagram (or part of one) is dropped. */
export const dropChannel: ReturnType<typeof channel> = channel('tidewire:udp:drop');
