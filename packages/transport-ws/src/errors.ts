import { TidewireError, WireErrorCode } from '@tidewire/wire';

/** Error and close codes raised or reported by `@tidewire/transport-ws`. */
export const WsErrorCode = {
  /** `listenWs` could not bind its own port. */
  ListenFailed: 'TIDEWIRE_ERR_LISTEN_FAILED',
  /** `dialWs`: nothing accepted the connection, or the server refused the upgrade. */
  ConnectFailed: 'TIDEWIRE_ERR_CONNECT_FAILED',
  /** `dialWs`: the WebSocket did not open within `connectTimeoutMs` (a stalled path). */
  ConnectTimeout: 'TIDEWIRE_ERR_CONNECT_TIMEOUT',
  /** No frame was received for `idleTimeoutMs`. */
  IdleTimeout: 'TIDEWIRE_ERR_IDLE_TIMEOUT',
  /** The send queue would have grown past `maxBufferedBytes`. */
  SlowConsumer: 'TIDEWIRE_ERR_SLOW_CONSUMER',
  /** The listener is closing and closes its connections. */
  ServerClosing: 'TIDEWIRE_ERR_SERVER_CLOSING',
  /** The peer sent a text message: Tidewire frames travel in binary messages only. */
  TextMessage: 'TIDEWIRE_ERR_TEXT_MESSAGE',
  /** A message was larger than `maxMessageBytes` (closed before it was buffered). */
  MessageTooLarge: 'TIDEWIRE_ERR_MESSAGE_TOO_LARGE',
  /** The WebSocket closed without a disconnect frame (the close code is in the reason), or broke while opening. */
  SocketClosed: 'TIDEWIRE_ERR_SOCKET',
  /** `onFrame` threw; the connection is closed. */
  HandlerFailed: 'TIDEWIRE_ERR_HANDLER_FAILED',
  /** `destroy()` was called. */
  Destroyed: 'TIDEWIRE_ERR_DESTROYED',
} as const;

export type WsErrorCode = (typeof WsErrorCode)[keyof typeof WsErrorCode];

/** Close codes that are not errors. */
export const WsCloseCode = {
  /** `close()` called without a code. */
  Normal: 'TIDEWIRE_CLOSE_NORMAL',
  /** The peer closed the WebSocket normally (1000/1001) without a disconnect frame. */
  PeerEnded: 'TIDEWIRE_CLOSE_PEER_ENDED',
  /** The peer sent a disconnect frame whose payload carried no valid code. */
  Unspecified: 'TIDEWIRE_CLOSE_UNSPECIFIED',
} as const;

/**
 * The WebSocket close code for a Tidewire close code (docs/protocol.md,
 * "WebSocket"): 1000 normal, 1001 going away, 1002 a bad frame, 1003 a text
 * message, 1009 too large, 1011 a handler failure, 4000 any other Tidewire
 * code (the code itself travels as the close reason and, before it, in the
 * disconnect frame).
 */
export function wsCloseCodeFor(code: string): number {
  switch (code) {
    case WsCloseCode.Normal:
      return 1000;
    case WsErrorCode.ServerClosing:
      return 1001;
    case WireErrorCode.BadMagic:
    case WireErrorCode.Truncated:
    case WireErrorCode.DecoderFailed:
      return 1002;
    case WsErrorCode.TextMessage:
      return 1003;
    case WireErrorCode.FrameTooLarge:
    case WsErrorCode.MessageTooLarge:
      return 1009;
    case WsErrorCode.HandlerFailed:
      return 1011;
    default:
      return 4000;
  }
}

export function wsError(code: WsErrorCode, message: string, cause?: unknown): TidewireError {
  return new TidewireError(code, message, cause === undefined ? undefined : { cause });
}
