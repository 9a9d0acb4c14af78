/**
 * The transports a node can serve, by type: the one place a transport is
 * registered. To add one, write its adapter next to these (one file that
 * implements `TransportAdapter` from `../user-connection.ts`) and add one
 * line here; `setupAsServer(type)` then runs it, and hello, admission and
 * close codes come from the seam.
 */
import type { Transport } from '../transport-types.ts';
import type { TransportAdapter } from '../user-connection.ts';
import { tcpTransport } from './tcp.ts';
import { udpTransport } from './udp.ts';

export const TRANSPORT_ADAPTERS: ReadonlyMap<Transport, TransportAdapter> = new Map([
  [tcpTransport.type, tcpTransport],
  [udpTransport.type, udpTransport],
]);
