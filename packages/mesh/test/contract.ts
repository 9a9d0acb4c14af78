/**
 * The contract every `Mesh` implementation passes. `memory.test.ts` and
 * `redis.test.ts` run it; each test gets a fresh cluster (a new hub, or a new
 * key prefix on the shared redis-server).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type {
  Mesh,
  MeshMessage,
  MeshOptions,
  NodeRegistration,
  SessionTicket,
} from '../src/index.ts';
import { endpointFor } from '../src/index.ts';
import { bytes, sleep, text, waitFor } from './helpers.ts';

export type MeshMaker = (options: MeshOptions) => Mesh;

export interface ContractSetup {
  /** A new, empty cluster: every mesh the returned function makes is in it. */
  newCluster(): MeshMaker;
}

function registration(id: string, overrides: Partial<NodeRegistration> = {}): NodeRegistration {
  return {
    id,
    role: 'tcp',
    internalAddress: `127.0.0.1:${id.length}`,
    publicHost: '203.0.113.7',
    publicPort: 7000,
    state: 'ONLINE',
    ccu: 0,
    load: 0,
    ...overrides,
  };
}

function ticket(
  sid: string,
  nodeId: string,
  overrides: Partial<SessionTicket> = {},
): SessionTicket {
  return {
    sid,
    key: `key-${sid}`,
    userId: `user-${sid}`,
    nodeId,
    transport: 'tcp',
    expiresAt: Date.now() + 10_000,
    ...overrides,
  };
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: 'TidewireError', code });
}

export function meshContract(name: string, setup: () => ContractSetup): void {
  describe(`Mesh contract: ${name}`, () => {
    let made: Mesh[] = [];
    let make: MeshMaker;

    /** Starts `count` meshes `n1`, `n2`, ... in a fresh cluster. */
    async function cluster(count: number, options: Partial<MeshOptions> = {}): Promise<Mesh[]> {
      make = setup().newCluster();
      const meshes: Mesh[] = [];
      for (let i = 1; i <= count; i++) {
        const mesh = make({ nodeId: `n${i}`, ...options });
        made.push(mesh);
        await mesh.start();
        meshes.push(mesh);
      }
      return meshes;
    }

    afterEach(async () => {
      await Promise.all(made.map((mesh) => mesh.close()));
      made = [];
    });

    it('refuses operations before start and after close; close is idempotent', async () => {
      make = setup().newCluster();
      const mesh = make({ nodeId: 'lonely' });
      made.push(mesh);
      await rejectsWithCode(mesh.listNodes(), 'TIDEWIRE_ERR_MESH_NOT_STARTED');
      await mesh.start();
      expect(await mesh.listNodes()).toEqual([]);
      await mesh.close();
      await mesh.close();
      await rejectsWithCode(mesh.listNodes(), 'TIDEWIRE_ERR_MESH_CLOSED');
      await rejectsWithCode(mesh.start(), 'TIDEWIRE_ERR_MESH_CLOSED');
    });

    it('registers nodes, lists them sorted by id with filters, and sees updates', async () => {
      const [a, b, c] = (await cluster(3)) as [Mesh, Mesh, Mesh];
      await b.registerNode(registration('n2'));
      await a.registerNode(registration('n1', { meta: { zone: 'eu' } }));
      await c.registerNode(registration('n3', { role: 'http', publicPort: 8080 }));
      const all = await a.listNodes();
      expect(all.map((node) => node.id)).toEqual(['n1', 'n2', 'n3']);
      expect(all[0]).toMatchObject({
        role: 'tcp',
        meta: { zone: 'eu' },
        publicHost: '203.0.113.7',
      });
      expect(all[0]!.updatedAt).toBeGreaterThan(Date.now() - 5000);
      expect((await c.listNodes({ role: 'http' })).map((node) => node.id)).toEqual(['n3']);

      await b.updateNode({ state: 'TAKEN', ccu: 12, load: 0.5 });
      expect(await c.listNodes({ state: 'TAKEN' })).toMatchObject([
        { id: 'n2', state: 'TAKEN', ccu: 12, load: 0.5 },
      ]);
      expect((await c.listNodes({ role: 'tcp', state: 'ONLINE' })).map((node) => node.id)).toEqual([
        'n1',
      ]);
    });

    it('claims: each member is new once across the cluster, until the set expires or is released', async () => {
      const [a, b] = (await cluster(2)) as [Mesh, Mesh];
      expect(await a.claim('notify:n1', ['u1', 'u2'], 5_000)).toEqual([true, true]);
      expect(await b.claim('notify:n1', ['u2', 'u3', 'u3'], 5_000)).toEqual([false, true, false]);
      expect(await b.claim('notify:n2', ['u1'], 5_000)).toEqual([true]);
      expect(await a.claim('notify:n1', [], 5_000)).toEqual([]);
      await a.releaseClaims('notify:n1');
      expect(await b.claim('notify:n1', ['u1'], 5_000)).toEqual([true]);
      expect(await a.claim('short', ['x'], 40)).toEqual([true]);
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(await b.claim('short', ['x'], 40)).toEqual([true]);
      await rejectsWithCode(a.claim('', ['x'], 1_000), 'TIDEWIRE_ERR_INVALID_ARGUMENT');
      await rejectsWithCode(a.claim('k', ['x'], -1), 'TIDEWIRE_ERR_INVALID_ARGUMENT');
      await rejectsWithCode(a.claim('k', 'x' as never, 1_000), 'TIDEWIRE_ERR_INVALID_ARGUMENT');
    });

    it("selects a node for an extra role it lists in meta, with that role's endpoint", async () => {
      const [a, b] = (await cluster(2)) as [Mesh, Mesh];
      await a.registerNode(
        registration('n1', {
          role: 'tcp',
          meta: { roles: 'udp', 'endpoint.udp': '203.0.113.1:7100' },
        }),
      );
      await b.registerNode(registration('n2', { role: 'tcp', ccu: 5 }));
      const udp = await a.selectNode('udp');
      expect(udp?.id).toBe('n1');
      expect(endpointFor(udp!, 'udp')).toEqual({ host: '203.0.113.1', port: 7100 });
      expect(endpointFor(udp!, 'tcp')).toEqual({ host: udp!.publicHost, port: udp!.publicPort });
      expect(endpointFor(udp!, 'connector')).toBeNull();
    });

    it('rejects bad registrations and updates before registration', async () => {
      const [a] = (await cluster(1)) as [Mesh];
      await rejectsWithCode(a.updateNode({ ccu: 1 }), 'TIDEWIRE_ERR_MESH_NOT_REGISTERED');
      await rejectsWithCode(a.registerNode(registration('other')), 'TIDEWIRE_ERR_INVALID_ARGUMENT');
      await rejectsWithCode(
        a.registerNode(registration('n1', { role: 'smtp' as 'tcp' })),
        'TIDEWIRE_ERR_INVALID_ARGUMENT',
      );
      await rejectsWithCode(
        a.registerNode(registration('n1', { ccu: -1 })),
        'TIDEWIRE_ERR_INVALID_ARGUMENT',
      );
      await a.registerNode(registration('n1'));
      await rejectsWithCode(
        a.updateNode({ state: 'GONE' as 'ONLINE' }),
        'TIDEWIRE_ERR_INVALID_ARGUMENT',
      );
      expect(await a.listNodes()).toMatchObject([{ id: 'n1', state: 'ONLINE' }]);
    });

    it('removes a node from the registry when its mesh closes', async () => {
      const [a, b] = (await cluster(2)) as [Mesh, Mesh];
      await a.registerNode(registration('n1'));
      await b.registerNode(registration('n2'));
      void b.close();
      // A second close() resolves when the first one is done, not before.
      await b.close();
      expect((await a.listNodes()).map((node) => node.id)).toEqual(['n1']);
    });

    it('selects ONLINE nodes of the role only, least loaded first, ties by ccu then id', async () => {
      const [a, b, c, d] = (await cluster(4)) as [Mesh, Mesh, Mesh, Mesh];
      expect(await a.selectNode('tcp')).toBeNull();
      await a.registerNode(registration('n1', { role: 'http' }));
      await b.registerNode(registration('n2', { load: 0.4, ccu: 40 }));
      await c.registerNode(registration('n3', { load: 0.2, ccu: 90 }));
      await d.registerNode(registration('n4', { load: 0.2, ccu: 90 }));
      expect((await a.selectNode('tcp'))?.id).toBe('n3');
      await c.updateNode({ ccu: 95 });
      expect((await a.selectNode('tcp'))?.id).toBe('n4');
      await d.updateNode({ state: 'TAKEN' });
      expect((await a.selectNode('tcp'))?.id).toBe('n3');
      await c.updateNode({ state: 'OFFLINE' });
      expect((await a.selectNode('tcp'))?.id).toBe('n2');
      await b.updateNode({ state: 'TAKEN' });
      expect(await a.selectNode('tcp')).toBeNull();
      expect(await a.selectNode('udp')).toBeNull();
      expect((await b.selectNode('http'))?.id).toBe('n1');
    });

    it('spreads a burst of sessions with the tickets it issued since the last report', async () => {
      const [http, t1, t2] = (await cluster(3)) as [Mesh, Mesh, Mesh];
      await http.registerNode(registration('n1', { role: 'http' }));
      await t1.registerNode(registration('n2'));
      await t2.registerNode(registration('n3'));
      const counts = new Map<string, number>();
      for (let i = 0; i < 6; i++) {
        const node = await http.selectNode('tcp');
        expect(node).not.toBeNull();
        counts.set(node!.id, (counts.get(node!.id) ?? 0) + 1);
        await http.issueTicket(ticket(`burst-${i}`, node!.id), 5000);
      }
      expect(Object.fromEntries(counts)).toEqual({ n2: 3, n3: 3 });
    });

    it('stores tickets for single use across nodes, and forgets expired ones', async () => {
      const [http, tcp] = (await cluster(2)) as [Mesh, Mesh];
      const issued = ticket('sid-1', 'n2', { clientInfo: { os: 'ios', build: 42, beta: false } });
      await http.issueTicket(issued, 5000);
      expect(await tcp.consumeTicket('sid-1')).toEqual(issued);
      expect(await tcp.consumeTicket('sid-1')).toBeNull();
      expect(await http.consumeTicket('sid-1')).toBeNull();
      expect(await tcp.consumeTicket('never-issued')).toBeNull();

      await http.issueTicket(ticket('sid-short', 'n2'), 40);
      await http.issueTicket(ticket('sid-past', 'n2', { expiresAt: Date.now() - 1 }), 5000);
      await sleep(80);
      expect(await tcp.consumeTicket('sid-short')).toBeNull();
      expect(await tcp.consumeTicket('sid-past')).toBeNull();
      await rejectsWithCode(
        http.issueTicket(ticket('sid-2', 'n2', { transport: 'ws' as 'tcp' }), 5000),
        'TIDEWIRE_ERR_INVALID_ARGUMENT',
      );
    });

    it("a new ticket for a user replaces the user's unused one", async () => {
      const [http, tcp] = (await cluster(2)) as [Mesh, Mesh];
      const first = ticket('sid-first', 'n2', { userId: 'ann' });
      const second = ticket('sid-second', 'n2', { userId: 'ann' });
      const other = ticket('sid-other', 'n2', { userId: 'bob' });
      await http.issueTicket(first, 5000);
      await http.issueTicket(other, 5000);
      await http.issueTicket(second, 5000);
      expect(await tcp.consumeTicket('sid-first')).toBeNull();
      expect(await tcp.consumeTicket('sid-second')).toEqual(second);
      expect(await tcp.consumeTicket('sid-other')).toEqual(other);
      // Once used, a ticket is not touched by the user's next one, which stands alone.
      const third = ticket('sid-third', 'n2', { userId: 'ann' });
      await http.issueTicket(third, 5000);
      expect(await tcp.consumeTicket('sid-third')).toEqual(third);
    });

    it('consumes a ticket exactly once under concurrent attempts', async () => {
      const [a, b, c] = (await cluster(3)) as [Mesh, Mesh, Mesh];
      await a.issueTicket(ticket('race', 'n2'), 5000);
      const results = await Promise.all([b, c, b, c].map((mesh) => mesh.consumeTicket('race')));
      expect(results.filter((result) => result !== null)).toHaveLength(1);
    });

    it('locates users on live nodes; removal is by (node, sid); close clears them', async () => {
      const [a, b, c] = (await cluster(3)) as [Mesh, Mesh, Mesh];
      await a.registerNode(registration('n1'));
      await b.registerNode(registration('n2'));
      await c.registerNode(registration('n3'));
      expect(await a.locateUser('alice')).toBeNull();
      await b.setUserLocation('alice', 's-b');
      expect(await a.locateUser('alice')).toEqual({ nodeId: 'n2', sid: 's-b' });
      await b.removeUserLocation('alice', 'other-sid');
      expect(await a.locateUser('alice')).toEqual({ nodeId: 'n2', sid: 's-b' });
      // The user reconnects on n3 before n2 cleans up: n2's late removal must not erase it.
      await c.setUserLocation('alice', 's-c');
      await b.removeUserLocation('alice', 's-b');
      expect(await a.locateUser('alice')).toEqual({ nodeId: 'n3', sid: 's-c' });
      await c.removeUserLocation('alice', 's-c');
      expect(await a.locateUser('alice')).toBeNull();

      await b.setUserLocation('bob', 's-bob');
      await b.close();
      expect(await a.locateUser('bob')).toBeNull();
    });

    it('does not locate a user on a node that is not registered', async () => {
      const [a, b] = (await cluster(2)) as [Mesh, Mesh];
      await b.setUserLocation('carol', 's-1');
      expect(await a.locateUser('carol')).toBeNull();
      await b.registerNode(registration('n2'));
      expect(await a.locateUser('carol')).toEqual({ nodeId: 'n2', sid: 's-1' });
    });

    it('broadcasts to every node including the sender; unsubscribe stops delivery', async () => {
      const [a, b, c] = (await cluster(3)) as [Mesh, Mesh, Mesh];
      const seen: Array<{ at: string; message: MeshMessage }> = [];
      const offs = [a, b, c].map((mesh) =>
        mesh.onMessage((message) => seen.push({ at: mesh.nodeId, message })),
      );
      await a.broadcast('notify', bytes('hello all'));
      await waitFor(() => seen.length === 3, 3000, 'three deliveries');
      expect(seen.map((s) => s.at).sort()).toEqual(['n1', 'n2', 'n3']);
      for (const { message } of seen) {
        expect(message.from).toBe('n1');
        expect(message.topic).toBe('notify');
        expect(text(message.payload)).toBe('hello all');
      }
      offs[1]!();
      await a.broadcast('notify', bytes('again'));
      await waitFor(() => seen.length === 5, 3000, 'two more deliveries');
      await sleep(50);
      expect(
        seen
          .slice(3)
          .map((s) => s.at)
          .sort(),
      ).toEqual(['n1', 'n3']);
    });

    it('sends to one node in order, and rejects unknown or closed nodes', async () => {
      const [a, b, c] = (await cluster(3)) as [Mesh, Mesh, Mesh];
      await b.registerNode(registration('n2'));
      await c.registerNode(registration('n3'));
      const atB: string[] = [];
      const atC: string[] = [];
      const atA: string[] = [];
      a.onMessage((m) => atA.push(text(m.payload)));
      b.onMessage((m) => atB.push(`${m.from}/${m.topic}/${text(m.payload)}`));
      c.onMessage((m) => atC.push(text(m.payload)));
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) sends.push(a.sendToNode('n2', 'room', bytes(String(i))));
      await Promise.all(sends);
      await waitFor(() => atB.length === 50, 3000, '50 messages');
      expect(atB).toEqual(Array.from({ length: 50 }, (_, i) => `n1/room/${i}`));
      expect(atC).toEqual([]);
      expect(atA).toEqual([]);
      await rejectsWithCode(
        a.sendToNode('nobody', 'room', bytes('x')),
        'TIDEWIRE_ERR_NODE_UNKNOWN',
      );
      // n1 is started but not registered: not a destination.
      await rejectsWithCode(b.sendToNode('n1', 'room', bytes('x')), 'TIDEWIRE_ERR_NODE_UNKNOWN');
      await c.close();
      await rejectsWithCode(a.sendToNode('n3', 'room', bytes('x')), 'TIDEWIRE_ERR_NODE_UNKNOWN');
    });

    it('keeps the payload bytes intact (binary, empty, 64 KiB)', async () => {
      const [a, b] = (await cluster(2)) as [Mesh, Mesh];
      await b.registerNode(registration('n2'));
      const got: Uint8Array[] = [];
      b.onMessage((m) => got.push(m.payload));
      const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
      const big = Uint8Array.from({ length: 65536 }, (_, i) => (i * 31) & 0xff);
      await a.sendToNode('n2', 'bin', binary);
      await a.sendToNode('n2', 'bin', new Uint8Array(0));
      await a.sendToNode('n2', 'bin', big);
      await waitFor(() => got.length === 3);
      expect(Buffer.from(got[0]!).equals(Buffer.from(binary))).toBe(true);
      expect(got[1]!.length).toBe(0);
      expect(Buffer.from(got[2]!).equals(Buffer.from(big))).toBe(true);
    });

    it('keeps delivering to other handlers when one throws', async () => {
      const [a] = (await cluster(1)) as [Mesh];
      const got: string[] = [];
      a.onMessage(() => {
        throw new Error('handler bug');
      });
      a.onMessage((m) => got.push(m.topic));
      await a.broadcast('t1', bytes('x'));
      await waitFor(() => got.length === 1);
      expect(got).toEqual(['t1']);
    });

    it('sendToUser resolves after the target node delivered it', async () => {
      const [a, b] = (await cluster(2)) as [Mesh, Mesh];
      await a.registerNode(registration('n1', { role: 'http' }));
      await b.registerNode(registration('n2'));
      const order: string[] = [];
      b.onUserMessage(async (target, ver, cmd, payload) => {
        order.push(`deliver ${target.userId}/${target.sid} ${ver}.${cmd} ${text(payload)}`);
        await sleep(30);
        order.push('delivered');
        return true;
      });
      await b.setUserLocation('alice', 'sid-a');
      await a.sendToUser('alice', 2, 300, bytes('hi alice'));
      order.push('resolved');
      expect(order).toEqual(['deliver alice/sid-a 2.300 hi alice', 'delivered', 'resolved']);
      // To a user on the sender's own node, through the same path.
      await a.setUserLocation('zed', 'sid-z');
      a.onUserMessage((target) => target.userId === 'zed');
      await a.sendToUser('zed', 2, 1, bytes(''));
    });

    it('sendToUser rejects USER_NOT_FOUND, DELIVERY_FAILED and MESH_TIMEOUT as the target answers', async () => {
      const [a, b] = (await cluster(2, { requestTimeoutMs: 200 })) as [Mesh, Mesh];
      await a.registerNode(registration('n1', { role: 'http' }));
      await b.registerNode(registration('n2'));
      await rejectsWithCode(a.sendToUser('ghost', 2, 1, bytes('x')), 'TIDEWIRE_ERR_USER_NOT_FOUND');
      await b.setUserLocation('bob', 'sid-b');
      // No handler installed on n2.
      await rejectsWithCode(
        a.sendToUser('bob', 2, 1, bytes('x')),
        'TIDEWIRE_ERR_MESH_DELIVERY_FAILED',
      );
      let mode: 'absent' | 'throw' | 'hang' = 'absent';
      b.onUserMessage(() => {
        if (mode === 'throw') throw new Error('boom');
        if (mode === 'hang') return new Promise<boolean>(() => {});
        return false;
      });
      await rejectsWithCode(a.sendToUser('bob', 2, 1, bytes('x')), 'TIDEWIRE_ERR_USER_NOT_FOUND');
      mode = 'throw';
      await rejectsWithCode(
        a.sendToUser('bob', 2, 1, bytes('x')),
        'TIDEWIRE_ERR_MESH_DELIVERY_FAILED',
      );
      mode = 'hang';
      const started = Date.now();
      await rejectsWithCode(a.sendToUser('bob', 2, 1, bytes('x')), 'TIDEWIRE_ERR_MESH_TIMEOUT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      await rejectsWithCode(
        a.sendToUser('bob', 256, 1, bytes('x')),
        'TIDEWIRE_ERR_INVALID_ARGUMENT',
      );
    });

    it('sendPM delivers to a session on a given node, by id or internal address', async () => {
      const [a, b] = (await cluster(2)) as [Mesh, Mesh];
      await b.registerNode(registration('n2', { internalAddress: '10.1.2.3:9000' }));
      const got: string[] = [];
      b.onUserMessage((target, ver, cmd, payload) => {
        got.push(`${target.userId ?? '-'} ${target.sid} ${ver} ${cmd} ${text(payload)}`);
        return target.sid === 'sid-9';
      });
      await a.sendPM('n2', 'sid-9', 3, 7, bytes('pm'));
      expect(got).toEqual(['- sid-9 3 7 pm']);
      // The seed's form: the node's internal address instead of its id.
      await a.sendPM('10.1.2.3:9000', 'sid-9', 3, 8, bytes('by address'));
      expect(got.at(-1)).toBe('- sid-9 3 8 by address');
      await rejectsWithCode(
        a.sendPM('n2', 'sid-0', 3, 7, bytes('pm')),
        'TIDEWIRE_ERR_USER_NOT_FOUND',
      );
      await rejectsWithCode(
        a.sendPM('n9', 'sid-9', 3, 7, bytes('pm')),
        'TIDEWIRE_ERR_NODE_UNKNOWN',
      );
      await rejectsWithCode(
        a.sendPM('10.9.9.9:9000', 'sid-9', 3, 7, bytes('pm')),
        'TIDEWIRE_ERR_NODE_UNKNOWN',
      );
    });

    it('close rejects messages still waiting for an acknowledgement', async () => {
      const [a, b] = (await cluster(2)) as [Mesh, Mesh];
      await b.registerNode(registration('n2'));
      await b.setUserLocation('dave', 'sid-d');
      let reached = false;
      b.onUserMessage(() => {
        reached = true;
        return new Promise<boolean>(() => {});
      });
      const pending = a.sendToUser('dave', 2, 1, bytes('x'));
      const outcome = pending.then(
        () => 'resolved',
        (err: { code?: string }) => err.code,
      );
      await waitFor(() => reached);
      await a.close();
      expect(await outcome).toBe('TIDEWIRE_ERR_MESH_CLOSED');
    });
  });
}
