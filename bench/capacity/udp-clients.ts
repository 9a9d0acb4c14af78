/**
 * A UDP client process of bench/capacity's "together" measurement. Each
 * dialed UDP session has a client socket of its own, so one fd on this side,
 * and the main process already holds one fd per TCP session: under a per-
 * process fd limit the UDP sessions' client side must live elsewhere. This
 * process opens `count` of them (the same way as the UDP measurement, through
 * udp-session.ts), reports how many it holds and keeps them idle until asked.
 *
 *   argv[2]: a JSON UdpClientsRequest
 *   → parent: a UdpClientsReport once the opening is over
 *   ← 'exit': destroys every session (the server is gone by then) and exits
 */
import type { UdpConnection } from '@tidewire/transport-udp';
import { type OpenOptions, openMany } from './open-many.ts';
import { openUdpSession, type UdpServerPorts } from './udp-session.ts';

export interface UdpClientsRequest extends UdpServerPorts, OpenOptions {
  count: number;
  /** Session uids are `ucap-<offset + i>`: distinct across the client processes. */
  offset: number;
}

export interface UdpClientsReport {
  held: number;
  seconds: number;
  errors: Record<string, number>;
}

const held: UdpConnection[] = [];

function exit(): void {
  for (const c of held) c.destroy();
  process.exit(0);
}

process.on('message', (message) => {
  if (message === 'exit') exit();
});
// The parent died: nobody will ask.
process.on('disconnect', exit);

const request = JSON.parse(process.argv[2]!) as UdpClientsRequest;
const opened = await openMany(
  request.count,
  (index) => openUdpSession(request, `ucap-${request.offset + index}`),
  request,
);
held.push(...opened.items);
// Count only the sessions that stayed open, as the other measurements do.
await new Promise((resolve) => setTimeout(resolve, 500));
const report: UdpClientsReport = {
  held: held.filter((c) => !c.closed).length,
  seconds: opened.seconds,
  errors: opened.errors,
};
process.send?.(report);
