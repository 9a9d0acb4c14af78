/** What a session is given (options, its owner's handler) and what it reports (stats). */

/** Tunables of one RUDP session; `resolveSessionOptions` fills the defaults. */
export interface SessionOptions {
  /** Bytes of units one packet may carry: the mtu, minus the 16-byte tag when sealed. */
  bodyBudget: number;
  /** Largest frame payload accepted and sent (a reliable message may be 10 bytes more). */
  maxPayloadLength: number;
  /** Retransmissions of one reliable piece before the peer is declared gone. */
  maxRetries: number;
  /** Cap on unacknowledged reliable bytes plus unsent unreliable bytes. */
  maxBufferedBytes: number;
  /**
   * Flight window: packets carrying reliable data that may be unacknowledged
   * at once (a fixed window, no congestion controller, as KCP's nocwnd mode).
   * It keeps bursts below socket buffer sizes.
   */
  maxInflightPackets: number;
  idleTimeoutMs: number;
  keepAliveMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** RTO before the first RTT sample. */
  initialRtoMs: number;
  /** A first RTT sample (the handshake's), or -1. */
  initialRttMs: number;
  /** Reassembly memory for incomplete unreliable messages. */
  fragmentMemory: number;
  fragmentTimeoutMs: number;
  /** How long a graceful close waits for acknowledgements before giving up. */
  closeLingerMs: number;
  /**
   * How long a pure ACK may wait for data to ride with (0: end of the turn),
   * when this side sent data in that much time before (a side that sends
   * nothing has nothing for the ACK to wait for). It still leaves at once
   * for a second unacknowledged ack-eliciting packet, a packet out of order,
   * FIN, and the first packet after this side retransmitted a reliable piece.
   */
  ackDelayMs: number;
  /** The peer's `ackDelayMs` (from the handshake): added to the RTO. */
  peerAckDelayMs: number;
}

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  bodyBudget: 1200,
  maxPayloadLength: 64 * 1024,
  maxRetries: 10,
  maxBufferedBytes: 1024 * 1024,
  maxInflightPackets: 128,
  idleTimeoutMs: 10_000,
  keepAliveMs: 2500,
  minRtoMs: 10,
  maxRtoMs: 2000,
  initialRtoMs: 200,
  initialRttMs: -1,
  fragmentMemory: 1024 * 1024,
  fragmentTimeoutMs: 1000,
  closeLingerMs: 1000,
  ackDelayMs: 0,
  peerAckDelayMs: 0,
};

/**
 * What a session asks of its owner (the socket layer, or a test). One handler
 * serves every session of a kind of owner and is given the session's owner
 * with each call, so that owners need no closures of their own.
 */
export interface SessionHandler<O = unknown> {
  /**
   * Send one DATA packet whose units are `packet[PACKET_HEADER_ROOM,
   * PACKET_HEADER_ROOM + length)`; the bytes before them are free for the
   * datagram header. Return true when `packet` was kept (a send queued
   * behind others): the session then assembles its next packets in a new
   * buffer. Return false when it may be reused at once (copy what you keep).
   */
  transmit(owner: O, packetNumber: number, packet: Buffer, length: number): boolean;
  /**
   * A whole message, `data[start, end)` (a view into the received datagram:
   * copy what you keep): reliable ones exactly once and in order.
   */
  message(owner: O, data: Buffer, start: number, end: number, reliable: boolean): void;
  /** The session ended; called once. */
  closed(owner: O, code: string, reason: string, remote: boolean): void;
  /** Buffered bytes fell below half the high-water mark after `send*` returned false. */
  drain(owner: O): void;
  /** A reliable piece is sent again. */
  retransmit?(owner: O, seq: number, sends: number): void;
  /**
   * A packet declared lost was acknowledged after all, `lateMs` after it was
   * sent. `late`: its ACK came late (no gap in the peer's packets; the RTO
   * floor rose), else it came after a gap (an ACK of the peer's was lost).
   */
  spuriousLoss?(owner: O, lateMs: number, late: boolean): void;
  /** Something received was dropped. */
  drop?(owner: O, reason: string): void;
}

export interface SessionStats {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  duplicates: number;
  packetsLost: number;
  /** Packets declared lost and acknowledged after all: their retransmission was not needed. */
  spuriousLosses: number;
  dropped: number;
  messagesSent: number;
  messagesReceived: number;
}

/** `DEFAULT_SESSION_OPTIONS` with `overrides` applied. */
export function resolveSessionOptions(overrides: Partial<SessionOptions>): SessionOptions {
  return { ...DEFAULT_SESSION_OPTIONS, ...overrides };
}
