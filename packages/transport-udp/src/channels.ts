import { channel } from 'node:diagnostics_channel';

/** `{ connection, side: 'server' | 'client' }` when a connection is established. */
export const connectionChannel: ReturnType<typeof channel> = channel('tidewire:udp:connection');
/** `{ connection, code, reason, remote }` when a connection ends. */
export const closeChannel: ReturnType<typeof channel> = channel('tidewire:udp:close');
/** `{ connection, seq, sends }` when a reliable piece is sent again. */
export const retransmitChannel: ReturnType<typeof channel> = channel('tidewire:udp:retransmit');
/**
 * `{ connection, lateMs, cause }` when a packet declared lost is acknowledged
 * after all (its retransmission was not needed), `lateMs` after it was sent.
 * `cause`: `'late-ack'` when the ACK came late (the peer's process stalled or
 * the path slowed; the connection's RTO floor rises), `'after-gap'` when it
 * came after a lost packet of the peer's (a lost ACK).
 */
export const spuriousLossChannel: ReturnType<typeof channel> = channel(
  'tidewire:udp:spurious-loss',
);
/** `{ reason, address, port }` when a received datagram (or part of one) is dropped. */
export const dropChannel: ReturnType<typeof channel> = channel('tidewire:udp:drop');
