import { connect, type TidewireClient } from '@tidewire/client';
import type { Mesh } from '@tidewire/mesh';
import { createServer, type TidewireServer } from '@tidewire/server';
import { pack, unpack } from '@tidewire/wire';
import { expect } from 'vitest';
import { installRooms, type RoomService, type RoomServiceOptions } from '../src/index.ts';

/** Everything a test started, closed by `cleanup()` (clients first). */
const servers: TidewireServer[] = [];
const clients: TidewireClient[] = [];

export async function cleanup(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
}

export interface RoomNode {
  server: TidewireServer;
  rooms: RoomService;
}

/** A started TCP node on loopback with the room module installed. */
export async function roomNode(
  mesh: Mesh | undefined,
  options: RoomServiceOptions = {},
  udp = false,
): Promise<RoomNode> {
  const server = createServer({
    config: { http: { port: 0 }, tcp: { port: 0 }, udp: { port: 0 }, debug: true },
    env: {},
    ...(mesh ? { mesh } : {}),
  });
  servers.push(server);
  await server.setupAsTCPServer();
  if (udp) await server.setupAsUDPServer();
  const rooms = installRooms(server, { nodeCheckIntervalMs: 100, ...options });
  await server.start();
  return { server, rooms };
}

export interface Player {
  readonly uid: string;
  readonly c: TidewireClient;
  readonly events: { cmd: number; body: Record<string, unknown> }[];
  call(
    cmd: number,
    body?: Record<string, unknown>,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Waits for an event `cmd` whose body matches `body` (a subset). */
  waitFor(cmd: number, body?: Record<string, unknown>): Promise<Record<string, unknown>>;
  count(cmd: number): number;
}

/** What placing a player needs of each node: a state switch. */
export interface Switchable {
  readonly nodeId: string;
  taken(): void | Promise<void>;
  online(): void | Promise<void>;
}

export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function matches(body: Record<string, unknown>, expected: Record<string, unknown>): boolean {
  return Object.entries(expected).every(([k, v]) => JSON.stringify(body[k]) === JSON.stringify(v));
}

/**
 * Connects `uid` through `endpoint` (an HTTP port) while every node of
 * `others` is TAKEN, so the mesh sends the player to the remaining ONLINE
 * node; `target` tells which TCP port that must be.
 */
export async function player(
  httpPort: number,
  uid: string,
  placement?: { mesh: Mesh; others: Switchable[]; tcpPort: number },
  transport: 'tcp' | 'udp' = 'tcp',
): Promise<Player> {
  if (placement !== undefined) {
    for (const node of placement.others) await node.taken();
    const ids = new Set(placement.others.map((n) => n.nodeId));
    await until(
      async () =>
        (await placement.mesh.listNodes()).every((n) => !ids.has(n.id) || n.state === 'TAKEN'),
      'the other nodes are TAKEN in the registry',
    );
  }
  let c: TidewireClient;
  try {
    c = await connect({
      endpointUrl: `http://127.0.0.1:${httpPort}`,
      uid,
      keepAliveIntervalMs: 0,
      transport,
    });
  } finally {
    if (placement !== undefined) for (const node of placement.others) await node.online();
  }
  clients.push(c);
  if (placement !== undefined) {
    expect(c.session.port).toBe(placement.tcpPort);
    const ids = new Set(placement.others.map((n) => n.nodeId));
    await until(
      async () =>
        (await placement.mesh.listNodes()).every((n) => !ids.has(n.id) || n.state === 'ONLINE'),
      'the other nodes are ONLINE again',
    );
  }
  const events: Player['events'] = [];
  c.on('push', (p) => {
    if (p.ver === 1) events.push({ cmd: p.cmd, body: unpack(p.payload) });
  });
  return {
    uid,
    c,
    events,
    async call(cmd, body = {}) {
      const res = await c.request(1, cmd, pack(body));
      return { status: res.status, body: res.payload.length === 0 ? {} : unpack(res.payload) };
    },
    async waitFor(cmd, body = {}) {
      let found: Record<string, unknown> | undefined;
      await until(
        () => {
          found = events.find((e) => e.cmd === cmd && matches(e.body, body))?.body;
          return found !== undefined;
        },
        `${uid}: event ${cmd} ${JSON.stringify(body)}`,
      );
      return found!;
    },
    count(cmd) {
      return events.filter((e) => e.cmd === cmd).length;
    },
  };
}

/** Places `uid` on `target` among the in-process `nodes`. */
export function playerOn(
  target: RoomNode,
  nodes: RoomNode[],
  uid: string,
  transport: 'tcp' | 'udp' = 'tcp',
): Promise<Player> {
  const others = nodes.filter((n) => n !== target).map((n) => n.server);
  const port = transport === 'tcp' ? target.server.tcpPort : target.server.udpPort;
  return player(
    target.server.httpPort,
    uid,
    { mesh: target.server.mesh, others, tcpPort: port },
    transport,
  );
}

/** Drops a server from the cleanup list (the test closed it itself). */
export function forget(server: TidewireServer): void {
  const at = servers.indexOf(server);
  if (at >= 0) servers.splice(at, 1);
}
