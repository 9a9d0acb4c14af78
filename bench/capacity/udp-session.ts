/**
 * The one way bench/capacity opens an idle UDP session, in the main process and
 * in the clients child alike: the session request over HTTP, the RUDP
 * handshake (`dialUdp`: a client socket of its own, so one fd per session on
 * this side, none on the server's) and the hello with its answer. Then the
 * session stays idle.
 */
import { dialUdp, type UdpConnection } from '@tidewire/transport-udp';
import { CORE_VER, CoreCommand, encodeFrame, Status } from '@tidewire/wire';

export interface UdpServerPorts {
  httpPort: number;
  udpPort: number;
}

/** Each step gives up after this long: one lost exchange must not hold a worker past the deadline. */
const STEP_TIMEOUT_MS = 5000;

export async function openUdpSession(server: UdpServerPorts, uid: string): Promise<UdpConnection> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/v1/endpoint/udp/user/${uid}`, {
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`session refused: ${res.status}`);
  const { sid } = (await res.json()) as { sid: string };
  const sidBytes = Buffer.from(sid, 'hex');
  const connection = await dialUdp({
    host: '127.0.0.1',
    port: server.udpPort,
    sid: sidBytes,
    // Idle sessions are the point: no idle timeout within the bench's lifetime.
    idleTimeoutMs: 600_000,
    // Idle sessions move no data; the 1 MiB default would only cost kernel memory.
    socketBufferBytes: 16 * 1024,
    connectTimeoutMs: STEP_TIMEOUT_MS,
  });
  try {
    await sayHello(connection, sidBytes);
  } catch (err) {
    connection.destroy();
    throw err;
  }
  return connection;
}

/** Sends the hello and waits for its answer: resolves on Ok, rejects on a refusal, a close or the timeout. */
function sayHello(connection: UdpConnection, sid: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      connection.onFrame = null;
      connection.onClose = null;
      if (err === null) resolve();
      else reject(err);
    };
    const timer = setTimeout(() => done(new Error('no hello answer')), STEP_TIMEOUT_MS);
    connection.onFrame = (frame) =>
      done(frame.status === Status.Ok ? null : new Error('hello refused'));
    connection.onClose = () => done(new Error('closed during hello'));
    connection.send(encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, sid));
  });
}

/** An opener of sessions with uids `ucap-<offset + index>`. */
export function udpSessions(
  server: UdpServerPorts,
  offset: number,
): (index: number) => Promise<UdpConnection> {
  return (index) => openUdpSession(server, `ucap-${offset + index}`);
}
