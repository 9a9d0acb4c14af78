import { once } from 'node:events';
import { pack, unpack } from '@tidewire/wire';
import { Redis, type RedisOptions } from 'ioredis';
import { BaseMesh } from './base-mesh.ts';
import { connectionChannel, droppedChannel } from './channels.ts';
import { decodeEnvelope, type Envelope, encodeEnvelope, MalformedEnvelope } from './envelope.ts';
import { abortReason, MeshErrorCode, meshError } from './errors.ts';
import { defineScripts, type ScriptCommands } from './scripts.ts';
import type { MeshOptions, NodeInfo, SessionTicket, UserLocation } from './types.ts';
import { assertDuration, isNodeId } from './validate.ts';

export const DEFAULT_KEY_PREFIX = 'tidewire:';
export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
/** User locations refreshed per script call during a heartbeat. */
const REFRESH_BATCH = 500;

export interface RedisMeshOptions extends MeshOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url: string;
  /** Prefix of every key and channel, so clusters can share a Redis (default `'tidewire:'`). */
  keyPrefix?: string;
  /** `start()` fails with `TIDEWIRE_ERR_MESH_UNREACHABLE` past this (default 3000 ms). */
  connectTimeoutMs?: number;
  /** A command not answered within this fails with `TIDEWIRE_ERR_MESH_UNAVAILABLE` (default 2000 ms). */
  commandTimeoutMs?: number;
}

type Client = Redis & ScriptCommands;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Redacts the password of a Redis URL for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

function isNodeRecord(value: unknown): value is NodeInfo {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    isNodeId(v.id) &&
    typeof v.role === 'string' &&
    typeof v.internalAddress === 'string' &&
    typeof v.publicHost === 'string' &&
    typeof v.publicPort === 'number' &&
    typeof v.state === 'string' &&
    typeof v.ccu === 'number' &&
    typeof v.load === 'number' &&
    typeof v.updatedAt === 'number'
  );
}

function isTicketRecord(value: unknown): value is SessionTicket {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.sid === 'string' &&
    typeof v.key === 'string' &&
    typeof v.userId === 'string' &&
    typeof v.nodeId === 'string' &&
    (v.transport === 'tcp' || v.transport === 'udp') &&
    typeof v.expiresAt === 'number'
  );
}

/**
 * Closes a client: QUIT when connected (bounded to 500 ms), then drops the
 * socket and waits (up to 1 s) for it to close. A client between reconnection
 * attempts has no socket: `disconnect()` just cancels the next attempt.
 */
async function closeClient(client: Redis): Promise<void> {
  const status = client.status;
  const hasSocket = status === 'connecting' || status === 'connect' || status === 'ready';
  const ended = hasSocket ? once(client, 'end') : undefined;
  if (status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.quit().catch(() => {}),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 500);
      }),
    ]);
    clearTimeout(timer);
  }
  client.disconnect();
  if (ended === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    ended.catch(() => {}),
    new Promise((resolve) => {
      timer = setTimeout(resolve, 1000);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * The mesh over Redis 7 (ioredis): registry and tickets in keys with TTLs,
 * messages over pub/sub. Survives Redis restarts: ioredis reconnects, resubscribes,
 * and the next heartbeat (run at once on reconnect) re-registers the node and
 * restores its user locations.
 */
export class RedisMesh extends BaseMesh {
  readonly url: string;
  readonly keyPrefix: string;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  #client: Client | null = null;
  #subscriber: Redis | null = null;
  /** True once connected: from then on ioredis reconnects forever (until close). */
  #reconnect = false;
  #down = false;
  readonly #nodeIndexKey: string;
  readonly #nodeKeyPrefix: string;
  readonly #allChannel: string;

  constructor(options: RedisMeshOptions) {
    super(options);
    if (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
      throw meshError(MeshErrorCode.InvalidConfig, 'url must start with redis:// or rediss://');
    }
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (typeof keyPrefix !== 'string' || keyPrefix.length > 128) {
      throw meshError(
        MeshErrorCode.InvalidConfig,
        'keyPrefix must be a string of at most 128 characters',
      );
    }
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    assertDuration(connectTimeoutMs, 'connectTimeoutMs');
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    assertDuration(commandTimeoutMs, 'commandTimeoutMs');
    this.url = options.url;
    this.keyPrefix = keyPrefix;
    this.connectTimeoutMs = connectTimeoutMs;
    this.commandTimeoutMs = commandTimeoutMs;
    this.#nodeIndexKey = `${keyPrefix}nodes`;
    this.#nodeKeyPrefix = `${keyPrefix}node:`;
    this.#allChannel = `${keyPrefix}bus:all`;
  }

  #nodeChannel(nodeId: string): string {
    return `${this.keyPrefix}bus:node:${nodeId}`;
  }

  #userKey(userId: string): string {
    return `${this.keyPrefix}user:${userId}`;
  }

  #claimKey(key: string): string {
    return `${this.keyPrefix}claims:${key}`;
  }

  #ticketKey(sid: string): string {
    return `${this.keyPrefix}ticket:${sid}`;
  }

  #location(sid: string): string {
    return `${this.nodeId} ${sid}`;
  }

  get #redis(): Client {
    const client = this.#client;
    if (client === null) throw meshError(MeshErrorCode.NotStarted, 'call start() first');
    return client;
  }

  /** Runs one Redis operation, turning its failure into `TIDEWIRE_ERR_MESH_UNAVAILABLE`. */
  async #run<T>(what: string, operation: (client: Client) => Promise<T>): Promise<T> {
    const client = this.#redis;
    try {
      return await operation(client);
    } catch (err) {
      throw meshError(MeshErrorCode.Unavailable, `redis ${what} failed: ${errorMessage(err)}`, err);
    }
  }

  protected async connect(signal: AbortSignal | undefined): Promise<void> {
    const options: RedisOptions = {
      lazyConnect: true,
      connectTimeout: this.connectTimeoutMs,
      commandTimeout: this.commandTimeoutMs,
      // Fail at once when disconnected, never queue or resend: a command kept for later could run
      // after its caller was told it failed (a message delivered after an error).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: true,
      connectionName: `tidewire-mesh:${this.nodeId}`,
      // No retry while starting (start() fails fast); after it, reconnect forever, at most 1 s apart.
      retryStrategy: (times) => (this.#reconnect ? Math.min(times * 100, 1000) : null),
    };
    const client = defineScripts(new Redis(this.url, options));
    const subscriber = client.duplicate();
    this.#client = client;
    this.#subscriber = subscriber;
    client.on('error', (err: unknown) => this.#connectionLost(err));
    subscriber.on('error', (err: unknown) => this.#connectionLost(err));

    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const where = redactUrl(this.url);
    try {
      await Promise.race([
        (async () => {
          await client.connect();
          await subscriber.connect();
          await subscriber.subscribe(this.#allChannel, this.#nodeChannel(this.nodeId));
        })(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                meshError(
                  MeshErrorCode.Unreachable,
                  `redis at ${where} did not answer within ${this.connectTimeoutMs} ms`,
                ),
              ),
            this.connectTimeoutMs,
          );
          if (signal !== undefined) {
            onAbort = () => reject(abortReason(signal));
            signal.addEventListener('abort', onAbort, { once: true });
          }
        }),
      ]);
    } catch (err) {
      if (
        err instanceof Error &&
        'code' in err &&
        typeof err.code === 'string' &&
        err.code.startsWith('TIDEWIRE_')
      ) {
        throw err;
      }
      if (signal?.aborted) throw abortReason(signal);
      throw meshError(
        MeshErrorCode.Unreachable,
        `cannot reach redis at ${where}: ${errorMessage(err)}`,
        err,
      );
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
    this.#reconnect = true;
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      let envelope: Envelope;
      try {
        envelope = decodeEnvelope(message);
      } catch (err) {
        const reason = err instanceof MalformedEnvelope ? err.message : 'undecodable';
        this.logger?.warn?.('mesh: dropped malformed bus message', {
          nodeId: this.nodeId,
          channel: channel.toString(),
          reason,
          bytes: message.length,
        });
        if (droppedChannel.hasSubscribers) {
          droppedChannel.publish({ nodeId: this.nodeId, reason, bytes: message.length });
        }
        return;
      }
      this.receive(envelope);
    });
    const lost = (): void => this.#connectionLost(new Error('connection closed'));
    client.on('close', lost);
    subscriber.on('close', lost);
    client.on('ready', () => this.#connectionRestored());
    subscriber.on('ready', () => this.#connectionRestored());
  }

  #connectionLost(err: unknown): void {
    if (!this.#reconnect || this.#down) return;
    this.#down = true;
    this.logger?.warn?.('mesh: lost the connection to redis, reconnecting', {
      nodeId: this.nodeId,
      error: errorMessage(err),
    });
    connectionChannel.publish({ nodeId: this.nodeId, event: 'down', error: err });
  }

  #connectionRestored(): void {
    if (this.#client?.status !== 'ready' || this.#subscriber?.status !== 'ready') return;
    if (this.#down) {
      this.#down = false;
      this.logger?.info?.('mesh: reconnected to redis', { nodeId: this.nodeId });
      connectionChannel.publish({ nodeId: this.nodeId, event: 'up' });
    }
    // Redis may have restarted empty: re-register the node and restore user locations now.
    void this.heartbeat();
  }

  protected async disconnect(): Promise<void> {
    this.#reconnect = false;
    const client = this.#client;
    const subscriber = this.#subscriber;
    this.#client = null;
    this.#subscriber = null;
    await Promise.all([
      client === null ? undefined : closeClient(client),
      subscriber === null ? undefined : closeClient(subscriber),
    ]);
    client?.removeAllListeners();
    subscriber?.removeAllListeners();
  }

  protected async storeNode(node: NodeInfo): Promise<void> {
    await this.#run('register', async (redis) => {
      const results = await redis
        .multi()
        .set(`${this.#nodeKeyPrefix}${node.id}`, pack(node), 'PX', this.ttlMs)
        .sadd(this.#nodeIndexKey, node.id)
        .exec();
      const failed = results?.find(([err]) => err !== null);
      if (results === null || failed !== undefined)
        throw failed?.[0] ?? new Error('transaction aborted');
    });
  }

  protected async removeNode(nodeId: string): Promise<void> {
    await this.#run('deregister', (redis) =>
      redis.multi().del(`${this.#nodeKeyPrefix}${nodeId}`).srem(this.#nodeIndexKey, nodeId).exec(),
    );
  }

  protected async loadNodes(): Promise<NodeInfo[]> {
    const records = await this.#run('list nodes', (redis) =>
      redis.twListNodesBuffer(this.#nodeIndexKey, this.#nodeKeyPrefix),
    );
    const nodes: NodeInfo[] = [];
    for (const record of records) {
      let node: unknown;
      try {
        node = unpack(record);
      } catch {
        node = undefined;
      }
      if (isNodeRecord(node)) nodes.push(node);
      else this.logger?.warn?.('mesh: skipped a malformed node record', { nodeId: this.nodeId });
    }
    return nodes;
  }

  protected async publishToNode(
    nodeId: string,
    envelope: Envelope,
    requireAlive: boolean,
  ): Promise<boolean> {
    const bytes = encodeEnvelope(envelope);
    const channel = this.#nodeChannel(nodeId);
    const receivers = await this.#run('publish', (redis) =>
      requireAlive
        ? redis.twPublishIfAlive(`${this.#nodeKeyPrefix}${nodeId}`, channel, bytes)
        : redis.publish(channel, bytes),
    );
    return receivers > 0;
  }

  protected async publishToAll(envelope: Envelope): Promise<void> {
    const bytes = encodeEnvelope(envelope);
    await this.#run('publish', (redis) => redis.publish(this.#allChannel, bytes));
  }

  protected async storeTicket(ticket: SessionTicket, ttlMs: number): Promise<void> {
    await this.#run('issue ticket', (redis) =>
      redis.twIssueTicket(
        this.#ticketKey(ticket.sid),
        `${this.keyPrefix}user-ticket:${ticket.userId}`,
        pack(ticket),
        ttlMs,
        ticket.sid,
        this.#ticketKey(''),
      ),
    );
  }

  protected async takeTicket(sid: string): Promise<SessionTicket | null> {
    const record = await this.#run('consume ticket', (redis) =>
      redis.getdelBuffer(this.#ticketKey(sid)),
    );
    if (record === null) return null;
    let ticket: unknown;
    try {
      ticket = unpack(record);
    } catch {
      ticket = undefined;
    }
    if (isTicketRecord(ticket)) return ticket;
    this.logger?.warn?.('mesh: dropped a malformed ticket record', { nodeId: this.nodeId, sid });
    return null;
  }

  protected async storeClaims(
    key: string,
    members: readonly string[],
    ttlMs: number,
  ): Promise<boolean[]> {
    const added = await this.#run('claim', (redis) =>
      redis.twClaim(this.#claimKey(key), ttlMs, ...members),
    );
    return added.map((n) => n === 1);
  }

  protected async deleteClaims(key: string): Promise<void> {
    await this.#run('release claims', (redis) => redis.del(this.#claimKey(key)));
  }

  protected async storeUser(userId: string, sid: string): Promise<void> {
    await this.#run('set user location', (redis) =>
      redis.set(this.#userKey(userId), this.#location(sid), 'PX', this.ttlMs),
    );
  }

  protected async deleteUser(userId: string, sid: string): Promise<void> {
    await this.#run('remove user location', (redis) =>
      redis.twDeleteUser(this.#userKey(userId), this.#location(sid)),
    );
  }

  protected async loadUser(userId: string): Promise<UserLocation | null> {
    const value = await this.#run('locate user', (redis) =>
      redis.twLocateUser(this.#userKey(userId), this.#nodeKeyPrefix),
    );
    if (value === null) return null;
    const space = value.indexOf(' ');
    return { nodeId: value.slice(0, space), sid: value.slice(space + 1) };
  }

  protected async refreshUsers(users: ReadonlyMap<string, string>): Promise<string[]> {
    const lost: string[] = [];
    const entries = [...users];
    for (let start = 0; start < entries.length; start += REFRESH_BATCH) {
      const batch = entries.slice(start, start + REFRESH_BATCH);
      const keys = batch.map(([userId]) => this.#userKey(userId));
      const values = batch.map(([, sid]) => this.#location(sid));
      const indexes = await this.#run('refresh user locations', (redis) =>
        redis.twRefreshUsers(batch.length, ...keys, String(this.ttlMs), ...values),
      );
      for (const index of indexes) {
        const entry = batch[index - 1];
        if (entry !== undefined) lost.push(entry[0]);
      }
    }
    return lost;
  }
}
