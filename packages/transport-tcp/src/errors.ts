import { TidewireError } from '@tidewire/wire';

/** Error codes raised or reported by `@tidewire/transport-tcp`. */
export const TcpErrorCode = {
  /** `dialTcp` could not connect (refused, unreachable, DNS failure). */
  ConnectFailed: 'TIDEWIRE_ERR_CONNECT_FAILED',
  /** `dialTcp` did not connect within `connectTimeoutMs`. */
  ConnectTimeout: 'TIDEWIRE_ERR_CONNECT_TIMEOUT',
  /** `listenTcp` could not bind (address in use, permission, bad host). */
  ListenFailed: 'TIDEWIRE_ERR_LISTEN_FAILED',
  /** No frame was received for `idleTimeoutMs`. */
  IdleTimeout: 'TIDEWIRE_ERR_IDLE_TIMEOUT',
  /** The send queue would have grown past `maxBufferedBytes`: the peer does not read fast enough. */
  SlowConsumer: 'TIDEWIRE_ERR_SLOW_CONSUMER',
  /** The listener is closing and closes its connections. */
  ServerClosing: 'TIDEWIRE_ERR_SERVER_CLOSING',
  /** The peer reset the connection (ECONNRESET, EPIPE). */
  ConnectionReset: 'TIDEWIRE_ERR_CONNECTION_RESET',
  /** Any other socket error; `CloseInfo.error` holds it. */
  SocketError: 'TIDEWIRE_ERR_SOCKET',
  /** `onFrame` threw; the stream position is lost, so the connection is closed. */
  HandlerFailed: 'TIDEWIRE_ERR_HANDLER_FAILED',
  /** `destroy()` was called without a `TidewireError`. */
  Destroyed: 'TIDEWIRE_ERR_DESTROYED',
} as const;

export type TcpErrorCode = (typeof TcpErrorCode)[keyof typeof TcpErrorCode];

/** Close codes that are not errors. */
export const TcpCloseCode = {
  /** `close()` called without a code. */
  Normal: 'TIDEWIRE_CLOSE_NORMAL',
  /** The peer ended the stream at a frame boundary without sending a disconnect frame. */
  PeerEnded: 'TIDEWIRE_CLOSE_PEER_ENDED',
  /** The peer sent a disconnect frame whose payload carried no valid code. */
  Unspecified: 'TIDEWIRE_CLOSE_UNSPECIFIED',
} as const;

export type TcpCloseCode = (typeof TcpCloseCode)[keyof typeof TcpCloseCode];

export function tcpError(code: TcpErrorCode, message: string, cause?: unknown): TidewireError {
  return new TidewireError(code, message, cause === undefined ? undefined : { cause });
}

/** The error an aborted signal rejects with: its reason, or a DOMException named AbortError. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}
