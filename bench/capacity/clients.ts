/**
 * A client process of bench/capacity: holds the client side of idle sessions
 * against one server: tidewire TCP, UDP or WebSocket sessions, or bare
 * WebSockets against the bare `ws` server. Each has a client socket of its
 * own (a TCP socket, or the UDP socket of a dialed session), so one fd on
 * this side: under a per-process fd limit the client side of tens of
 * thousands of sessions must be split over processes. This process opens
 * `count` sessions (through tcp-session.ts, udp-session.ts or ws-session.ts, the same code as
 * the main process), reports how many it holds and keeps them idle until
 * asked to exit.
 *
 *   argv[2]: a JSON ClientsRequest
 *   → parent: a ClientsReport once the opening is over
 *   ← 'count': a ClientsReport again, `held` counted anew
 *   ← 'exit': destroys every session (the server is gone by then) and exits
 */
import { type Opened, type OpenOptions, openMany } from './open-many.ts';
import { type TcpServerPorts, tcpSessions } from './tcp-session.ts';
import { type UdpServerPorts, udpSessions } from './udp-session.ts';
import { bareWsSockets, wsSessions } from './ws-session.ts';

export interface ClientsRequest extends TcpServerPorts, UdpServerPorts, OpenOptions {
  transport: 'tcp' | 'udp' | 'ws' | 'bare-ws';
  count: number;
  /** Session uids are `cap-<offset + i>` (TCP) or `ucap-<offset + i>` (UDP): distinct across the client processes. */
  offset: number;
}

export interface ClientsReport {
  held: number;
  seconds: number;
  errors: Record<string, number>;
}

/** The client side of one session: whether it is still open, and how to drop it. */
interface Held {
  isOpen(): boolean;
  destroy(): void;
}

function opener(request: ClientsRequest): (index: number) => Promise<Held> {
  if (request.transport === 'tcp') {
    const open = tcpSessions(request, request.offset);
    return async (index) => {
      const socket = await open(index);
      return { isOpen: () => !socket.destroyed, destroy: () => socket.destroy() };
    };
  }
  if (request.transport === 'ws' || request.transport === 'bare-ws') {
    const open =
      request.transport === 'ws' ? wsSessions(request, request.offset) : bareWsSockets(request);
    return async (index) => {
      const socket = await open(index);
      return {
        isOpen: () => socket.readyState === socket.OPEN,
        destroy: () => socket.terminate(),
      };
    };
  }
  const open = udpSessions(request, request.offset);
  return async (index) => {
    const connection = await open(index);
    return { isOpen: () => !connection.closed, destroy: () => connection.destroy() };
  };
}

const held: Held[] = [];
let opening: Opened<Held> = { items: [], errors: {}, seconds: 0 };

/** Counts only the sessions still open, as the other measurements do. */
function report(): ClientsReport {
  return {
    held: held.filter((session) => session.isOpen()).length,
    seconds: opening.seconds,
    errors: opening.errors,
  };
}

function exit(): void {
  for (const session of held) session.destroy();
  process.exit(0);
}

process.on('message', (message) => {
  if (message === 'exit') exit();
  else if (message === 'count') process.send?.(report());
});
// The parent died: nobody will ask.
process.on('disconnect', exit);

const request = JSON.parse(process.argv[2]!) as ClientsRequest;
opening = await openMany(request.count, opener(request), request);
held.push(...opening.items);
// Sessions closed right after the hello count as not held.
await new Promise((resolve) => setTimeout(resolve, 500));
process.send?.(report());
