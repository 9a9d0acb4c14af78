/**
 * The one way bench/capacity opens an idle tidewire TCP session, in the main
 * process and in the clients child alike: the session request over HTTP, the
 * connect (`dial`, with the source-address fallback) and the hello with its
 * answer. Then the session stays idle.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { fetchTcpSession, sayHello } from '../shared/net-echo.ts';

export interface TcpServerPorts {
  httpPort: number;
  tcpPort: number;
}

/** Which of `SOURCE_ADDRESSES` the next connect uses; shared by the workers of one opening. */
export interface SourceAddress {
  index: number;
}

/** Index 0: no explicit source address; then 127.0.0.2 to 127.0.0.9. */
const SOURCE_ADDRESSES = Array.from({ length: 9 }, (_, i) => `127.0.0.${i + 1}`);

/**
 * Opens one TCP connection: first with the kernel's choice of source address
 * (ports are then picked per destination), then, once ephemeral ports run out
 * (EADDRNOTAVAIL, EADDRINUSE), bound to 127.0.0.2, 127.0.0.3... in turn.
 */
export async function dial(port: number, source: SourceAddress): Promise<Socket> {
  for (;;) {
    const index = source.index;
    const localAddress = index === 0 ? undefined : SOURCE_ADDRESSES[index];
    if (index > 0 && localAddress === undefined) {
      throw new Error('every source address is out of ports');
    }
    const socket = connect({
      host: '127.0.0.1',
      port,
      noDelay: true,
      ...(localAddress !== undefined ? { localAddress } : {}),
    });
    try {
      await once(socket, 'connect');
      socket.on('error', () => {});
      return socket;
    } catch (err) {
      socket.destroy();
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EADDRNOTAVAIL' && code !== 'EADDRINUSE') throw err;
      if (source.index === index) source.index++;
    }
  }
}

/** One idle tidewire TCP session: the session request, the connect and the hello. */
export async function openTcpSession(
  server: TcpServerPorts,
  source: SourceAddress,
  uid: string,
): Promise<Socket> {
  const sid = await fetchTcpSession(`http://127.0.0.1:${server.httpPort}`, uid);
  const socket = await dial(server.tcpPort, source);
  try {
    await sayHello(socket, sid);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return socket;
}

/** An opener of sessions with uids `cap-<offset + index>`, starting from the kernel's choice of source address. */
export function tcpSessions(
  server: TcpServerPorts,
  offset: number,
): (index: number) => Promise<Socket> {
  const source: SourceAddress = { index: 0 };
  return (index) => openTcpSession(server, source, `cap-${offset + index}`);
}
