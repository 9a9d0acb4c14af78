/**
 * What the load tester needs from a transport: open a session-backed
 * connection, send requests without waiting, hear responses in order and the
 * close. One implementation per `--transport` name (`tcp`, `udp`,
 * `udp-unreliable`: client-transport.ts); tests use one without a network.
 */
export interface LoadTransport {
  /** The name given to `--transport`. */
  readonly name: string;
  /**
   * Gets a session from the HTTP endpoint, connects and says hello. Rejects
   * with a `TidewireError` (or the signal's reason) within `connectTimeoutMs`.
   */
  open(options: OpenOptions): Promise<LoadConnection>;
}

export interface OpenOptions {
  /** Base URL of the HTTP session endpoint. */
  endpointUrl: string;
  uid: string;
  /** Bound on the session request, the connect and the hello together, ms. */
  connectTimeoutMs: number;
  /** Decides whether the session's host may be connected to; false refuses the session. */
  allowHost: (host: string) => boolean;
  signal?: AbortSignal;
}

/** A response to a request sent with `send`. */
export type ResponseHandler = (ver: number, cmd: number, status: number, payload: Buffer) => void;

/** How a connection ended: a close code (`TIDEWIRE_*`) and who closed it. */
export type CloseHandler = (code: string, remote: boolean) => void;

export interface LoadConnection {
  /** The session's `host:port`. */
  readonly remote: string;
  /**
   * Sends a request; its response comes to `onResponse`. False under
   * backpressure (still sent) or when closed (dropped). `payload` is reused
   * by the tester once this returns: copy it to keep it.
   */
  send(ver: number, cmd: number, payload: Uint8Array): boolean;
  onResponse: ResponseHandler | null;
  /** Called once, when the connection ends for any reason but `close()`. */
  onClose: CloseHandler | null;
  readonly closed: boolean;
  /** Closes with a disconnect frame; resolves when the socket is gone. */
  close(): Promise<void>;
}
