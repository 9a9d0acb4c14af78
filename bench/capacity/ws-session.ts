/**
 * The one way bench/capacity opens an idle WebSocket connection, in the main
 * process and in the clients child alike. Against a tidewire server: the
 * session request over HTTP (`/v1/endpoint/ws/user/{uid}`, which answers the
 * URL to open), the upgrade and the hello with its answer. Against the bare
 * `ws` server: the upgrade only. Then the connection stays idle.
 */
import { once } from 'node:events';
import { CORE_VER, CoreCommand, encodeFrame, Status } from '@tidewire/wire';
import WebSocket from 'ws';

export interface WsServerPorts {
  httpPort: number;
}

/** Each step gives up after this long: one lost exchange must not hold a worker past the deadline. */
const STEP_TIMEOUT_MS = 5000;

/** Opens a WebSocket to `url` (permessage-deflate off, as the servers run it). */
async function upgrade(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url, {
    perMessageDeflate: false,
    handshakeTimeout: STEP_TIMEOUT_MS,
  });
  try {
    await once(socket, 'open');
  } catch (err) {
    socket.terminate();
    throw err;
  }
  socket.on('error', () => {});
  return socket;
}

/** Says hello with the session id `sid` (hex); resolves on the Ok answer, rejects otherwise. */
function sayHello(socket: WebSocket, sid: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error('no hello answer')), STEP_TIMEOUT_MS);
    const finish = (err: Error | null): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      socket.off('close', onClose);
      if (err === null) resolve();
      else reject(err);
    };
    const onMessage = (data: Buffer): void => {
      finish(data[5] === Status.Ok ? null : new Error('hello refused'));
    };
    const onClose = (): void => finish(new Error('closed during hello'));
    socket.on('message', onMessage);
    socket.once('close', onClose);
    socket.send(encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.from(sid, 'hex')), {
      binary: true,
    });
  });
}

/** One idle tidewire WebSocket session: the session request, the upgrade and the hello. */
export async function openWsSession(server: WsServerPorts, uid: string): Promise<WebSocket> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/v1/endpoint/ws/user/${uid}`, {
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`session refused: ${res.status}`);
  const { url, sid } = (await res.json()) as { url: string; sid: string };
  const socket = await upgrade(url);
  try {
    await sayHello(socket, sid);
  } catch (err) {
    socket.terminate();
    throw err;
  }
  return socket;
}

/** An opener of tidewire WS sessions with uids `wcap-<offset + index>`. */
export function wsSessions(
  server: WsServerPorts,
  offset: number,
): (index: number) => Promise<WebSocket> {
  return (index) => openWsSession(server, `wcap-${offset + index}`);
}

/** An opener of bare WebSocket connections to the bare `ws` server (no session, no hello). */
export function bareWsSockets(server: WsServerPorts): () => Promise<WebSocket> {
  return () => upgrade(`ws://127.0.0.1:${server.httpPort}/`);
}
