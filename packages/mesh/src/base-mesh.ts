import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isTidewireError, type Logger, type TidewireError } from '@tidewire/wire';
import { messageChannel, nodeChannel } from './channels.ts';
import {
  type AckEnvelope,
  AckStatus,
  type Envelope,
  EnvelopeKind,
  type UserRequestEnvelope,
} from './envelope.ts';
import { abortReason, MeshErrorCode, meshError } from './errors.ts';
import { pickNode } from './select.ts';
import type {
  Mesh,
  MeshMessage,
  MeshOptions,
  MessageHandler,
  NodeFilter,
  NodeInfo,
  NodePatch,
  NodeRegistration,
  NodeRole,
  SelectOptions,
  SessionTicket,
  UserLocation,
  UserMessageHandler,
  UserTarget,
} from './types.ts';
import {
  assertBytes,
  assertCount,
  assertDuration,
  assertMeta,
  assertNodeId,
  assertPort,
  assertRegistration,
  assertRole,
  assertState,
  assertText,
  assertTicket,
  assertVerCmd,
} from './validate.ts';

export const DEFAULT_TTL_MS = 6000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 3000;
/** How long a selection counts as pending while its ticket is being issued. */
const RESERVATION_MS = 5000;

type Status = 'idle' | 'starting' | 'started' | 'closing' | 'closed';

interface IssuedTicket {
  at: number;
  expiresAt: number;
}

interface PendingRequest {
  resolve: () => void;
  reject: (error: TidewireError) => void;
  timer: NodeJS.Timeout;
  nodeId: string;
  target: string;
}

/** A default node id: host, pid and 6 random hex digits, restricted to the id alphabet. */
export function defaultNodeId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._:-]/g, '-')
      .slice(0, 64) || 'node';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * What both meshes share: argument checks, the local node record and its
 * heartbeat, the selection rule, user delivery with acknowledgements, and
 * dispatch of received envelopes. Subclasses provide storage and the bus.
 */
export abstract class BaseMesh implements Mesh {
  readonly nodeId: string;
  readonly ttlMs: number;
  readonly requestTimeoutMs: number;
  protected readonly logger: Logger | undefined;

  #status: Status = 'idle';
  #self: NodeInfo | null = null;
  /** Locations this node set: userId → sid. Refreshed by heartbeats, cleared on close. */
  readonly #users = new Map<string, string>();
  readonly #handlers = new Set<MessageHandler>();
  #userHandler: UserMessageHandler | null = null;
  readonly #pending = new Map<number, PendingRequest>();
  #nextRequestId = 1;
  #heartbeat: NodeJS.Timeout | null = null;
  #beat: Promise<void> | null = null;
  #closing: Promise<void> | null = null;
  #beatAgain = false;
  #heartbeatFailing = false;
  /**
   * Tickets issued to each node and not yet expired (issue time, expiry), for
   * the pending term of the selection rule. An expired ticket can no longer
   * bring a user, so it stops counting whether or not the node gets another.
   */
  readonly #issued = new Map<string, IssuedTicket[]>();
  /** Per node: times of selections whose ticket is not issued yet (dropped after RESERVATION_MS). */
  readonly #reserved = new Map<string, number[]>();

  constructor(options: MeshOptions = {}) {
    const nodeId = options.nodeId ?? defaultNodeId();
    assertNodeId(nodeId);
    const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    assertDuration(ttlMs, 'ttlMs');
    if (ttlMs < 30) throw meshError(MeshErrorCode.InvalidArgument, 'ttlMs must be at least 30');
    const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    assertDuration(requestTimeoutMs, 'requestTimeoutMs');
    this.nodeId = nodeId;
    this.ttlMs = ttlMs;
    this.requestTimeoutMs = requestTimeoutMs;
    this.logger = options.logger;
  }

  // --- what subclasses provide -------------------------------------------

  /** Connects and subscribes to this node's channel and the broadcast channel. */
  protected abstract connect(signal: AbortSignal | undefined): Promise<void>;
  /** Releases every connection and timer of the subclass. */
  protected abstract disconnect(): Promise<void>;
  /** Writes this node's record with a lifetime of `ttlMs`. */
  protected abstract storeNode(node: NodeInfo): Promise<void>;
  protected abstract removeNode(nodeId: string): Promise<void>;
  /** The records of live nodes, in any order. */
  protected abstract loadNodes(): Promise<NodeInfo[]>;
  /**
   * Sends `envelope` to node `nodeId`. With `requireAlive`, only when the node
   * is registered and alive. False when it was not sent or nobody received it.
   */
  protected abstract publishToNode(
    nodeId: string,
    envelope: Envelope,
    requireAlive: boolean,
  ): Promise<boolean>;
  protected abstract publishToAll(envelope: Envelope): Promise<void>;
  protected abstract storeTicket(ticket: SessionTicket, ttlMs: number): Promise<void>;
  protected abstract takeTicket(sid: string): Promise<SessionTicket | null>;
  /** Sets the user's location to this node with a lifetime of `ttlMs`. */
  protected abstract storeClaims(
    key: string,
    members: readonly string[],
    ttlMs: number,
  ): Promise<boolean[]>;
  protected abstract deleteClaims(key: string): Promise<void>;
  protected abstract storeUser(userId: string, sid: string): Promise<void>;
  /** Deletes the user's location if it is still (this node, sid). */
  protected abstract deleteUser(userId: string, sid: string): Promise<void>;
  /** The user's location if set and its node is alive. */
  protected abstract loadUser(userId: string): Promise<UserLocation | null>;
  /**
   * Extends the lifetime of this node's user locations (restoring missing
   * ones); resolves with the user ids now located elsewhere.
   */
  protected abstract refreshUsers(users: ReadonlyMap<string, string>): Promise<string[]>;

  // --- lifecycle ------------------------------------------------------------

  /** True between a resolved `start()` and `close()`. */
  get started(): boolean {
    return this.#status === 'started';
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (this.#status !== 'idle') {
      throw meshError(
        this.#status === 'closing' || this.#status === 'closed'
          ? MeshErrorCode.Closed
          : MeshErrorCode.InvalidArgument,
        'start() was already called',
      );
    }
    if (signal?.aborted) throw abortReason(signal);
    this.#status = 'starting';
    try {
      await this.connect(signal);
    } catch (err) {
      const closedMeanwhile = this.#status !== 'starting';
      this.#status = 'closed';
      await this.disconnect().catch(() => {});
      if (closedMeanwhile) {
        throw meshError(MeshErrorCode.Closed, 'the mesh was closed while starting', err);
      }
      throw err;
    }
    if ((this.#status as Status) !== 'starting') {
      // close() ran while connecting.
      await this.disconnect().catch(() => {});
      throw meshError(MeshErrorCode.Closed, 'the mesh was closed while starting');
    }
    this.#status = 'started';
    // Unref'd: the heartbeat alone does not keep the process alive.
    this.#heartbeat = setInterval(() => void this.heartbeat(), Math.floor(this.ttlMs / 3));
    this.#heartbeat.unref();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasStarted = this.#status === 'started';
    this.#status = 'closing';
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    for (const [id, request] of this.#pending) {
      clearTimeout(request.timer);
      request.reject(
        meshError(MeshErrorCode.Closed, `the mesh closed before ${request.target} answered`),
      );
      this.#pending.delete(id);
    }
    this.#handlers.clear();
    this.#userHandler = null;
    if (wasStarted) {
      // A heartbeat in flight finishes first, so it cannot undo the removals.
      if (this.#beat !== null) await this.#beat;
      try {
        // All at once, so a Redis outage costs one commandTimeoutMs, not one per user.
        const removals: Promise<void>[] = [];
        if (this.#self !== null) removals.push(this.removeNode(this.nodeId));
        for (const [userId, sid] of this.#users) removals.push(this.deleteUser(userId, sid));
        await Promise.all(removals);
      } catch (err) {
        this.logger?.warn?.('mesh: could not deregister on close', {
          nodeId: this.nodeId,
          error: err,
        });
      }
      if (this.#self !== null) nodeChannel.publish({ nodeId: this.nodeId, event: 'deregistered' });
    }
    this.#users.clear();
    this.#self = null;
    this.#status = 'closed';
    await this.disconnect();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  protected assertStarted(): void {
    if (this.#status === 'started') return;
    if (this.#status === 'closing' || this.#status === 'closed') {
      throw meshError(MeshErrorCode.Closed, 'the mesh is closed');
    }
    throw meshError(MeshErrorCode.NotStarted, 'call start() first');
  }

  // --- registry -------------------------------------------------------------

  async registerNode(info: NodeRegistration): Promise<void> {
    this.assertStarted();
    assertRegistration(info);
    if (info.id !== this.nodeId) {
      throw meshError(
        MeshErrorCode.InvalidArgument,
        `info.id ${info.id} is not this mesh's nodeId ${this.nodeId}`,
      );
    }
    const node: NodeInfo = {
      id: info.id,
      role: info.role,
      internalAddress: info.internalAddress,
      publicHost: info.publicHost,
      publicPort: info.publicPort,
      state: info.state,
      ccu: info.ccu,
      load: info.load,
      updatedAt: Date.now(),
    };
    if (info.meta !== undefined) node.meta = { ...info.meta };
    this.#self = node;
    await this.storeNode(node);
    nodeChannel.publish({ nodeId: this.nodeId, event: 'registered' });
  }

  async updateNode(patch: NodePatch): Promise<void> {
    this.assertStarted();
    const self = this.#self;
    if (self === null) throw meshError(MeshErrorCode.NotRegistered, 'call registerNode() first');
    if (patch.state !== undefined) assertState(patch.state);
    if (patch.ccu !== undefined) assertCount(patch.ccu, 'ccu');
    if (patch.load !== undefined) assertCount(patch.load, 'load');
    if (patch.publicHost !== undefined) assertText(patch.publicHost, 'publicHost');
    if (patch.publicPort !== undefined) assertPort(patch.publicPort);
    assertMeta(patch.meta);
    if (patch.state !== undefined) self.state = patch.state;
    if (patch.ccu !== undefined) self.ccu = patch.ccu;
    if (patch.load !== undefined) self.load = patch.load;
    if (patch.publicHost !== undefined) self.publicHost = patch.publicHost;
    if (patch.publicPort !== undefined) self.publicPort = patch.publicPort;
    if (patch.meta !== undefined) self.meta = { ...patch.meta };
    self.updatedAt = Date.now();
    await this.storeNode(self);
    nodeChannel.publish({ nodeId: this.nodeId, event: 'updated' });
  }

  /** This node's record as last written, or null before `registerNode`. */
  get self(): Readonly<NodeInfo> | null {
    return this.#self;
  }

  /**
   * Re-writes this node's record and refreshes its user locations; runs every
   * `ttlMs / 3`, and at once after a reconnection. A call while one runs makes
   * it run once more after; the promise never rejects (failures are logged).
   */
  protected heartbeat(): Promise<void> {
    if (this.#status !== 'started') return Promise.resolve();
    if (this.#beat !== null) {
      this.#beatAgain = true;
      return this.#beat;
    }
    this.#beat = (async () => {
      do {
        this.#beatAgain = false;
        await this.#beatOnce();
      } while (this.#beatAgain && this.#status === 'started');
    })().finally(() => {
      this.#beat = null;
    });
    return this.#beat;
  }

  async #beatOnce(): Promise<void> {
    try {
      const self = this.#self;
      // The record is rewritten as last reported: `updatedAt` stays the time of that report.
      if (self !== null) await this.storeNode(self);
      // Re-check: close() must not see its removals undone by a late refresh.
      if (this.#users.size > 0 && this.#status === 'started') {
        const lost = await this.refreshUsers(this.#users);
        for (const userId of lost) this.#users.delete(userId);
      }
      if (this.#heartbeatFailing) {
        this.#heartbeatFailing = false;
        this.logger?.info?.('mesh: heartbeat restored', { nodeId: this.nodeId });
      }
    } catch (err) {
      if (!this.#heartbeatFailing && this.#status === 'started') {
        this.#heartbeatFailing = true;
        this.logger?.warn?.('mesh: heartbeat failed', { nodeId: this.nodeId, error: err });
      }
    }
  }

  async listNodes(filter: NodeFilter = {}): Promise<NodeInfo[]> {
    this.assertStarted();
    if (filter.role !== undefined) assertRole(filter.role);
    if (filter.state !== undefined) assertState(filter.state);
    const nodes = await this.loadNodes();
    return nodes
      .filter(
        (node) =>
          (filter.role === undefined || node.role === filter.role) &&
          (filter.state === undefined || node.state === filter.state),
      )
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async selectNode(role: NodeRole, options: SelectOptions = {}): Promise<NodeInfo | null> {
    this.assertStarted();
    assertRole(role);
    const skip = options.skip;
    const loaded = await this.loadNodes();
    const nodes = skip === undefined ? loaded : loaded.filter((node) => !skip(node));
    const now = Date.now();
    const picked = pickNode(nodes, role, (node) => this.#pendingFor(node, now));
    // Reserve the pick until its ticket is issued, so that concurrent
    // selections (a burst of session requests) spread instead of piling up.
    if (picked !== null) {
      const list = this.#reserved.get(picked.id) ?? [];
      list.push(now);
      this.#reserved.set(picked.id, list);
    }
    return picked;
  }

  #pendingFor(node: NodeInfo, now: number): number {
    let count = 0;
    const issued = this.#issued.get(node.id);
    if (issued !== undefined) {
      forgetExpired(issued, now);
      if (issued.length === 0) this.#issued.delete(node.id);
      for (const ticket of issued) if (ticket.at >= node.updatedAt) count++;
    }
    const reserved = this.#reserved.get(node.id);
    if (reserved !== undefined) {
      while (reserved.length > 0 && reserved[0]! < now - RESERVATION_MS) reserved.shift();
      count += reserved.length;
      if (reserved.length === 0) this.#reserved.delete(node.id);
    }
    return count;
  }

  #noteIssued(nodeId: string, now: number, expiresAt: number): void {
    let issued = this.#issued.get(nodeId);
    if (issued === undefined) {
      if (this.#issued.size >= 10_000) {
        for (const [id, list] of this.#issued) {
          forgetExpired(list, now);
          if (list.length === 0) this.#issued.delete(id);
        }
      }
      issued = [];
      this.#issued.set(nodeId, issued);
    }
    forgetExpired(issued, now);
    issued.push({ at: now, expiresAt });
  }

  // --- tickets and user directory -------------------------------------------

  async issueTicket(ticket: SessionTicket, ttlMs: number): Promise<void> {
    this.assertStarted();
    assertTicket(ticket);
    assertDuration(ttlMs, 'ttlMs');
    await this.storeTicket(ticket, ttlMs);
    this.#reserved.get(ticket.nodeId)?.shift();
    const now = Date.now();
    this.#noteIssued(ticket.nodeId, now, Math.min(ticket.expiresAt, now + ttlMs));
  }

  async consumeTicket(sid: string): Promise<SessionTicket | null> {
    this.assertStarted();
    assertText(sid, 'sid');
    const ticket = await this.takeTicket(sid);
    if (ticket === null || ticket.expiresAt <= Date.now()) return null;
    return ticket;
  }

  // --- claims --------------------------------------------------------------

  async claim(key: string, members: readonly string[], ttlMs: number): Promise<boolean[]> {
    this.assertStarted();
    assertText(key, 'key');
    assertDuration(ttlMs, 'ttlMs');
    if (!Array.isArray(members)) {
      throw meshError(MeshErrorCode.InvalidArgument, 'members must be an array of strings');
    }
    for (const member of members) assertText(member, 'member');
    if (members.length === 0) return [];
    return this.storeClaims(key, members, ttlMs);
  }

  async releaseClaims(key: string): Promise<void> {
    this.assertStarted();
    assertText(key, 'key');
    await this.deleteClaims(key);
  }

  async setUserLocation(userId: string, sid: string): Promise<void> {
    this.assertStarted();
    assertText(userId, 'userId');
    assertText(sid, 'sid');
    this.#users.set(userId, sid);
    await this.storeUser(userId, sid);
  }

  async removeUserLocation(userId: string, sid: string): Promise<void> {
    this.assertStarted();
    assertText(userId, 'userId');
    assertText(sid, 'sid');
    if (this.#users.get(userId) === sid) this.#users.delete(userId);
    await this.deleteUser(userId, sid);
  }

  async locateUser(userId: string): Promise<UserLocation | null> {
    this.assertStarted();
    assertText(userId, 'userId');
    return this.loadUser(userId);
  }

  // --- messages -------------------------------------------------------------

  onMessage(handler: MessageHandler): () => void {
    if (typeof handler !== 'function') {
      throw meshError(MeshErrorCode.InvalidArgument, 'handler must be a function');
    }
    // A wrapper per subscription, so the same function may subscribe twice.
    const entry: MessageHandler = (message) => handler(message);
    this.#handlers.add(entry);
    return () => {
      this.#handlers.delete(entry);
    };
  }

  onUserMessage(handler: UserMessageHandler): void {
    if (typeof handler !== 'function') {
      throw meshError(MeshErrorCode.InvalidArgument, 'handler must be a function');
    }
    this.#userHandler = handler;
  }

  async broadcast(topic: string, payload: Uint8Array): Promise<void> {
    this.assertStarted();
    assertText(topic, 'topic');
    assertBytes(payload, 'payload');
    await this.publishToAll({ kind: EnvelopeKind.Message, from: this.nodeId, topic, payload });
  }

  async sendToNode(nodeId: string, topic: string, payload: Uint8Array): Promise<void> {
    this.assertStarted();
    assertNodeId(nodeId);
    assertText(topic, 'topic');
    assertBytes(payload, 'payload');
    const sent = await this.publishToNode(
      nodeId,
      { kind: EnvelopeKind.Message, from: this.nodeId, topic, payload },
      true,
    );
    if (!sent)
      throw meshError(MeshErrorCode.NodeUnknown, `node ${nodeId} is not registered or not alive`);
  }

  async sendToUser(userId: string, ver: number, cmd: number, payload: Uint8Array): Promise<void> {
    this.assertStarted();
    assertText(userId, 'userId');
    assertVerCmd(ver, cmd);
    assertBytes(payload, 'payload');
    const location = await this.loadUser(userId);
    if (location === null) {
      throw meshError(MeshErrorCode.UserNotFound, `user ${userId} is not connected to a live node`);
    }
    await this.#request(location.nodeId, userId, location.sid, ver, cmd, payload, `user ${userId}`);
  }

  async sendPM(
    nodeId: string,
    sid: string,
    ver: number,
    cmd: number,
    message: Uint8Array,
  ): Promise<void> {
    this.assertStarted();
    assertText(nodeId, 'nodeId');
    assertText(sid, 'sid');
    assertVerCmd(ver, cmd);
    assertBytes(message, 'message');
    const target = `session ${sid}`;
    try {
      await this.#request(nodeId, null, sid, ver, cmd, message, target);
    } catch (err) {
      // The seed passes the node's internal address: resolve it when no node has that id.
      if (!isTidewireError(err, MeshErrorCode.NodeUnknown)) throw err;
      const nodes = await this.loadNodes();
      const node = nodes.find((n) => n.internalAddress === nodeId && n.id !== nodeId);
      if (node === undefined) throw err;
      await this.#request(node.id, null, sid, ver, cmd, message, target);
    }
  }

  #request(
    nodeId: string,
    userId: string | null,
    sid: string,
    ver: number,
    cmd: number,
    payload: Uint8Array,
    target: string,
  ): Promise<void> {
    const requestId = this.#nextRequestId++;
    const envelope: UserRequestEnvelope = {
      kind: EnvelopeKind.UserRequest,
      from: this.nodeId,
      requestId,
      userId,
      sid,
      ver,
      cmd,
      payload,
    };
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(
          meshError(
            MeshErrorCode.Timeout,
            `node ${nodeId} did not acknowledge the message for ${target} within ${this.requestTimeoutMs} ms`,
          ),
        );
      }, this.requestTimeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer, nodeId, target });
      this.publishToNode(nodeId, envelope, true).then(
        (sent) => {
          if (sent) return;
          this.#settle(
            requestId,
            meshError(MeshErrorCode.NodeUnknown, `node ${nodeId} is not registered or not alive`),
          );
        },
        (err: TidewireError) => this.#settle(requestId, err),
      );
    });
  }

  #settle(requestId: number, error: TidewireError | null): boolean {
    const request = this.#pending.get(requestId);
    if (request === undefined) return false;
    this.#pending.delete(requestId);
    clearTimeout(request.timer);
    if (error === null) request.resolve();
    else request.reject(error);
    return true;
  }

  /** Number of user messages waiting for an acknowledgement. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /** Handles one envelope from the bus. Subclasses call it for every received message. */
  protected receive(envelope: Envelope): void {
    if (this.#status !== 'started') return;
    switch (envelope.kind) {
      case EnvelopeKind.Message: {
        if (messageChannel.hasSubscribers) {
          messageChannel.publish({
            nodeId: this.nodeId,
            kind: 'message',
            from: envelope.from,
            topic: envelope.topic,
          });
        }
        const message: MeshMessage = {
          from: envelope.from,
          topic: envelope.topic,
          payload: envelope.payload,
        };
        for (const handler of this.#handlers) {
          try {
            handler(message);
          } catch (err) {
            this.logger?.error?.('mesh: onMessage handler threw', {
              nodeId: this.nodeId,
              topic: envelope.topic,
              error: err,
            });
          }
        }
        return;
      }
      case EnvelopeKind.UserRequest:
        if (messageChannel.hasSubscribers) {
          messageChannel.publish({ nodeId: this.nodeId, kind: 'user', from: envelope.from });
        }
        void this.#deliverUserMessage(envelope);
        return;
      case EnvelopeKind.Ack: {
        const { requestId, status } = envelope;
        const request = this.#pending.get(requestId);
        if (request === undefined || request.nodeId !== envelope.from) {
          this.logger?.debug?.('mesh: ack for no pending request', {
            nodeId: this.nodeId,
            from: envelope.from,
            requestId,
          });
          return;
        }
        this.#settle(
          requestId,
          status === AckStatus.Delivered
            ? null
            : status === AckStatus.NotFound
              ? meshError(
                  MeshErrorCode.UserNotFound,
                  `${request.target} is not on node ${envelope.from}`,
                )
              : meshError(
                  MeshErrorCode.DeliveryFailed,
                  `node ${envelope.from} failed to deliver the message for ${request.target}`,
                ),
        );
        return;
      }
    }
  }

  async #deliverUserMessage(envelope: UserRequestEnvelope): Promise<void> {
    const handler = this.#userHandler;
    let status: AckStatus = AckStatus.Failed;
    if (handler === null) {
      this.logger?.warn?.('mesh: user message received but no onUserMessage handler is installed', {
        nodeId: this.nodeId,
        from: envelope.from,
      });
    } else {
      const target: UserTarget = { sid: envelope.sid };
      if (envelope.userId !== null) target.userId = envelope.userId;
      try {
        const delivered = await handler(target, envelope.ver, envelope.cmd, envelope.payload);
        status = delivered ? AckStatus.Delivered : AckStatus.NotFound;
      } catch (err) {
        this.logger?.error?.('mesh: onUserMessage handler threw', {
          nodeId: this.nodeId,
          error: err,
        });
      }
    }
    if (this.#status !== 'started') return;
    const ack: AckEnvelope = {
      kind: EnvelopeKind.Ack,
      from: this.nodeId,
      requestId: envelope.requestId,
      status,
    };
    try {
      await this.publishToNode(envelope.from, ack, false);
    } catch (err) {
      this.logger?.warn?.('mesh: could not acknowledge a user message', {
        nodeId: this.nodeId,
        to: envelope.from,
        error: err,
      });
    }
  }
}

/** Drops the tickets of `issued` that expired by `now` (in place; order kept). */
function forgetExpired(issued: IssuedTicket[], now: number): void {
  let kept = 0;
  for (const ticket of issued) if (ticket.expiresAt > now) issued[kept++] = ticket;
  issued.length = kept;
}
