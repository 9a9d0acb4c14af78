/**
 * Three mesh nodes in three processes sharing one redis-server: one HTTP node
 * and two TCP nodes (test/fixtures/mesh-node.ts), driven over IPC.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeInfo, SessionTicket } from '../src/index.ts';
import { sleep, waitFor } from './helpers.ts';
import { freePort, type RedisServer, skipWithoutRedis, startRedis } from './redis-server.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/mesh-node.ts', import.meta.url));
const TTL_MS = 1500;

interface NodeEvent {
  event: string;
  [field: string]: unknown;
}

class NodeProcess {
  readonly events: NodeEvent[] = [];
  readonly stderr: string[] = [];
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;

  constructor(
    readonly id: string,
    readonly child: ChildProcess,
  ) {
    child.on(
      'message',
      (
        message: NodeEvent & {
          id?: number;
          ok?: boolean;
          result?: unknown;
          error?: { code: string; message: string };
        },
      ) => {
        if (typeof message.id === 'number') {
          const pending = this.#pending.get(message.id);
          this.#pending.delete(message.id);
          if (message.ok) pending?.resolve(message.result);
          else
            pending?.reject(
              Object.assign(new Error(message.error?.message), { code: message.error?.code }),
            );
          return;
        }
        this.events.push(message);
      },
    );
    child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    child.on('exit', () => {
      for (const pending of this.#pending.values()) pending.reject(new Error(`${id} exited`));
      this.#pending.clear();
    });
  }

  call<T = unknown>(op: string, ...args: unknown[]): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  eventsOf(kind: string): NodeEvent[] {
    return this.events.filter((e) => e.event === kind);
  }
}

function spawnNode(id: string, role: string, meshUrl: string): ChildProcess {
  return fork(FIXTURE, [], {
    execArgv: ['--conditions=@tidewire/source', '--import', 'tsx'],
    env: {
      ...process.env,
      TIDEWIRE_MESH_URL: meshUrl,
      NODE_ID: id,
      NODE_ROLE: role,
      MESH_TTL_MS: String(TTL_MS),
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
}

async function startNode(id: string, role: string, meshUrl: string): Promise<NodeProcess> {
  const node = new NodeProcess(id, spawnNode(id, role, meshUrl));
  await waitFor(
    () => node.eventsOf('ready').length > 0 || node.child.exitCode !== null,
    15_000,
    `${id} ready`,
  );
  if (node.child.exitCode !== null) throw new Error(`${id} exited: ${node.stderr.join('')}`);
  return node;
}

async function retry<T>(what: string, attempt: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`${what}: still failing after ${timeoutMs} ms: ${(err as Error).message}`);
      await sleep(50);
    }
  }
}

const skip = skipWithoutRedis();

describe.skipIf(skip)('three-process cluster over one redis-server', { timeout: 40_000 }, () => {
  let redis: RedisServer;
  const nodes: NodeProcess[] = [];
  let http: NodeProcess;
  let tcp1: NodeProcess;
  let tcp2: NodeProcess;
  const ids = async (via: NodeProcess): Promise<string[]> =>
    (await via.call<NodeInfo[]>('listNodes')).map((n) => n.id);

  beforeAll(async () => {
    redis = await startRedis();
    [http, tcp1, tcp2] = await Promise.all([
      startNode('http-1', 'http', redis.url),
      startNode('tcp-1', 'tcp', redis.url),
      startNode('tcp-2', 'tcp', redis.url),
    ]);
    nodes.push(http, tcp1, tcp2);
  }, 40_000);

  afterAll(async () => {
    for (const node of nodes) {
      if (node.child.exitCode === null && node.child.signalCode === null) {
        const exited = once(node.child, 'exit');
        node.child.kill('SIGKILL');
        await exited;
      }
    }
    await redis?.stop();
  });

  it('registers every node and spreads sessions over the ONLINE TCP nodes', async () => {
    expect(await ids(http)).toEqual(['http-1', 'tcp-1', 'tcp-2']);
    const placed: Record<string, string[]> = {};
    for (let i = 0; i < 6; i++) {
      const node = await http.call<NodeInfo | null>('selectNode', 'tcp');
      expect(node).not.toBeNull();
      const ticket: SessionTicket = {
        sid: `sid-${i}`,
        key: `key-${i}`,
        userId: `user-${i}`,
        nodeId: node!.id,
        transport: 'tcp',
        expiresAt: Date.now() + 10_000,
      };
      await http.call('issueTicket', ticket, 10_000);
      placed[node!.id] = [...(placed[node!.id] ?? []), ticket.sid];
    }
    expect(placed['tcp-1']).toHaveLength(3);
    expect(placed['tcp-2']).toHaveLength(3);
    // The TCP node consumes the ticket the HTTP process issued, once.
    const sid = placed['tcp-2']![0]!;
    expect(await tcp2.call<SessionTicket>('consumeTicket', sid)).toMatchObject({
      sid,
      nodeId: 'tcp-2',
    });
    expect(await tcp1.call('consumeTicket', sid)).toBeNull();
  });

  it('stops sending users to a TAKEN node', async () => {
    await tcp1.call('updateNode', { state: 'TAKEN' });
    for (let i = 0; i < 3; i++) {
      expect((await http.call<NodeInfo>('selectNode', 'tcp')).id).toBe('tcp-2');
    }
    await tcp1.call('updateNode', { state: 'ONLINE' });
    expect(
      (await http.call<NodeInfo[]>('listNodes', { state: 'ONLINE', role: 'tcp' })).length,
    ).toBe(2);
  });

  it('delivers direct messages, broadcasts and sendToUser across processes', async () => {
    await tcp1.call('setUserLocation', 'alice', 'sid-alice');
    await tcp2.call('setUserLocation', 'bob', 'sid-bob');
    await tcp2.call('sendToUser', 'alice', 2, 300, 'hi alice');
    // The delivery event and the caller's answer come over different IPC channels: wait for both.
    await waitFor(() => tcp1.eventsOf('user').length > 0);
    expect(tcp1.eventsOf('user').at(-1)).toMatchObject({
      target: { userId: 'alice', sid: 'sid-alice' },
      ver: 2,
      cmd: 300,
      payload: 'hi alice',
    });
    await http.call('sendToUser', 'bob', 2, 301, 'hi bob');
    await waitFor(() => tcp2.eventsOf('user').length > 0);
    expect(tcp2.eventsOf('user').at(-1)).toMatchObject({
      target: { userId: 'bob' },
      payload: 'hi bob',
    });
    await expect(http.call('sendToUser', 'nobody', 2, 1, 'x')).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_USER_NOT_FOUND',
    });

    await http.call('sendToNode', 'tcp-2', 'room', 'direct');
    await waitFor(() => tcp2.eventsOf('message').some((e) => e.payload === 'direct'));
    expect(tcp1.eventsOf('message').some((e) => e.payload === 'direct')).toBe(false);

    await tcp1.call('broadcast', 'notify', 'to all');
    for (const node of [http, tcp1, tcp2]) {
      await waitFor(() =>
        node.eventsOf('message').some((e) => e.payload === 'to all' && e.from === 'tcp-1'),
      );
    }
  });

  it('survives a Redis restart: nodes re-register and messages flow again', async () => {
    await redis.restart();
    await retry('re-registration', async () => {
      expect(await ids(http)).toEqual(['http-1', 'tcp-1', 'tcp-2']);
    });
    await retry('sendToUser after restart', () =>
      http.call('sendToUser', 'alice', 2, 302, 'after restart'),
    );
    await waitFor(() => tcp1.eventsOf('user').some((e) => e.payload === 'after restart'));
    await retry('broadcast after restart', async () => {
      await http.call('broadcast', 'notify', 'post-restart');
      await waitFor(
        () =>
          [http, tcp1, tcp2].every((n) =>
            n.eventsOf('message').some((e) => e.payload === 'post-restart'),
          ),
        500,
      );
    });
    await waitFor(() =>
      tcp2.eventsOf('log').some((e) => e.message === 'mesh: reconnected to redis'),
    );
  });

  it('drops a SIGKILLed node within its TTL', async () => {
    const exited = once(tcp2.child, 'exit');
    tcp2.child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    await waitFor(async () => !(await ids(http)).includes('tcp-2'), TTL_MS + 1000, 'tcp-2 gone');
    const gone = Date.now() - killedAt;
    // Within the TTL, plus the polling round trip over IPC and Redis.
    expect(gone).toBeLessThanOrEqual(TTL_MS + 300);
    expect(await ids(http)).toEqual(['http-1', 'tcp-1']);
    expect((await http.call<NodeInfo>('selectNode', 'tcp')).id).toBe('tcp-1');
    // bob was on tcp-2: he is no longer reachable.
    await expect(http.call('sendToUser', 'bob', 2, 1, 'x')).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_USER_NOT_FOUND',
    });
    await expect(http.call('sendToNode', 'tcp-2', 'room', 'x')).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_NODE_UNKNOWN',
    });
  });

  it('deregisters a node that closes gracefully at once', async () => {
    await tcp1.call('close');
    expect(await ids(http)).toEqual(['http-1']);
  });

  it('exits non-zero with MESH_UNREACHABLE, not a hang, when Redis is unreachable at start', async () => {
    const port = await freePort();
    const node = new NodeProcess('orphan', spawnNode('orphan', 'tcp', `redis://127.0.0.1:${port}`));
    nodes.push(node);
    const started = Date.now();
    const [code] = (await once(node.child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(node.stderr.join('')).toContain('TIDEWIRE_ERR_MESH_UNREACHABLE');
  });
});
