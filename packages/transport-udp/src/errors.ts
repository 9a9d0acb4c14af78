import { TidewireError, WireErrorCode } from '@tidewire/wire';

/** Error codes raised or reported by `@tidewire/transport-udp`. */
export const UdpErrorCode = {
  /** `dialUdp` got no ACCEPT within `connectTimeoutMs`. */
  HandshakeTimeout: 'TIDEWIRE_ERR_HANDSHAKE_TIMEOUT',
  /** The server answered REFUSE: `authenticate` refused, it is busy, or encryption settings differ. */
  HandshakeRefused: 'TIDEWIRE_ERR_HANDSHAKE_REFUSED',
  /** No valid DATA packet was received for `idleTimeoutMs`. */
  IdleTimeout: 'TIDEWIRE_ERR_IDLE_TIMEOUT',
  /** A reliable piece was retransmitted `maxRetries` times without being acknowledged. */
  PeerGone: 'TIDEWIRE_ERR_PEER_GONE',
  /** A reliable frame would have pushed the send queue past `maxBufferedBytes`. */
  SlowConsumer: 'TIDEWIRE_ERR_SLOW_CONSUMER',
  /** The listener is closing and closes its connections. */
  ServerClosing: 'TIDEWIRE_ERR_SERVER_CLOSING',
  /** `listenUdp` could not bind (address in use, permission, bad host). */
  ListenFailed: 'TIDEWIRE_ERR_LISTEN_FAILED',
  /** The UDP socket failed; `CloseInfo.error` holds the cause. */
  SocketError: 'TIDEWIRE_ERR_SOCKET',
  /** `onFrame` threw; the connection is closed. */
  HandlerFailed: 'TIDEWIRE_ERR_HANDLER_FAILED',
  /** `destroy()` was called without a `TidewireError`. */
  Destroyed: 'TIDEWIRE_ERR_DESTROYED',
  /** The peer broke the protocol in a way that cannot be skipped (a reliable message over the size bound). */
  FrameTooLarge: 'TIDEWIRE_ERR_FRAME_TOO_LARGE',
} as const;

export type UdpErrorCode = (typeof UdpErrorCode)[keyof typeof UdpErrorCode];

/** Close codes that are not errors. */
export const UdpCloseCode = {
  /** `close()` called without a code. */
  Normal: 'TIDEWIRE_CLOSE_NORMAL',
} as const;

export type UdpCloseCode = (typeof UdpCloseCode)[keyof typeof UdpCloseCode];

/** REFUSE reasons (protocol: REFUSE `reason` byte). */
export const RefuseReason = {
  Refused: 1,
  Busy: 2,
  EncryptionMismatch: 3,
} as const;

export type RefuseReason = (typeof RefuseReason)[keyof typeof RefuseReason];

export function udpError(code: string, message: string, cause?: unknown): TidewireError {
  return new TidewireError(code, message, cause === undefined ? undefined : { cause });
}

/** The error an aborted signal rejects with: its reason, or a DOMException named AbortError. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

export function invalidArgumentError(message: string): TidewireError {
  return new TidewireError(WireErrorCode.InvalidArgument, message);
}
