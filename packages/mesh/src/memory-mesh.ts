import { BaseMesh } from './base-mesh.ts';
import type { Envelope } from './envelope.ts';
import { abortReason, MeshErrorCode, meshError } from './errors.ts';
import type { MeshOptions, NodeInfo, SessionTicket, UserLocation } from './types.ts';

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

type Receiver = (envelope: Envelope) => void;

function copyNode(node: NodeInfo): NodeInfo {
  const copy: NodeInfo = { ...node };
  if (node.meta !== undefined) copy.meta = { ...node.meta };
  return copy;
}

/**
 * The shared state of in-process meshes: what Redis holds for `RedisMesh`.
 * Meshes given the same hub form one cluster inside the process. Entries
 * expire by time, checked on every read and swept by heartbeats.
 */
export class MemoryMeshHub {
  readonly #nodes = new Map<string, Expiring<NodeInfo>>();
  readonly #tickets = new Map<string, Expiring<SessionTicket>>();
  /** userId → sid of the user's latest ticket (a new one replaces it while unused). */
  readonly #userTickets = new Map<string, string>();
  readonly #users = new Map<string, Expiring<UserLocation>>();
  readonly #claims = new Map<string, Expiring<Set<string>>>();
  readonly #receivers = new Map<string, Receiver>();
  #lastSweep = 0;

  /** Number of meshes started on this hub and not closed. */
  get attached(): number {
    return this.#receivers.size;
  }

  attach(nodeId: string, receiver: Receiver): void {
    if (this.#receivers.has(nodeId)) {
      throw meshError(
        MeshErrorCode.InvalidArgument,
        `a mesh with nodeId ${nodeId} is already started on this hub`,
      );
    }
    this.#receivers.set(nodeId, receiver);
  }

  detach(nodeId: string, receiver: Receiver): void {
    if (this.#receivers.get(nodeId) === receiver) this.#receivers.delete(nodeId);
  }

  /** Drops expired entries; runs at most once a second whatever the caller count. */
  sweep(now: number = Date.now()): void {
    if (now - this.#lastSweep < 1000) return;
    this.#lastSweep = now;
    for (const map of [this.#nodes, this.#tickets, this.#users, this.#claims] as Map<
      string,
      Expiring<unknown>
    >[]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
    for (const [userId, sid] of this.#userTickets) {
      if (!this.#tickets.has(sid)) this.#userTickets.delete(userId);
    }
  }

  setNode(node: NodeInfo, ttlMs: number): void {
    this.#nodes.set(node.id, { value: copyNode(node), expiresAt: Date.now() + ttlMs });
  }

  deleteNode(nodeId: string): void {
    this.#nodes.delete(nodeId);
  }

  isAlive(nodeId: string, now: number = Date.now()): boolean {
    const entry = this.#nodes.get(nodeId);
    return entry !== undefined && entry.expiresAt > now;
  }

  nodes(): NodeInfo[] {
    const now = Date.now();
    const out: NodeInfo[] = [];
    for (const [id, entry] of this.#nodes) {
      if (entry.expiresAt > now) out.push(copyNode(entry.value));
      else this.#nodes.delete(id);
    }
    return out;
  }

  setTicket(ticket: SessionTicket, ttlMs: number): void {
    const copy: SessionTicket = { ...ticket };
    if (ticket.clientInfo !== undefined) copy.clientInfo = { ...ticket.clientInfo };
    const previous = this.#userTickets.get(ticket.userId);
    if (previous !== undefined && previous !== ticket.sid) this.#tickets.delete(previous);
    this.#userTickets.set(ticket.userId, ticket.sid);
    this.#tickets.set(ticket.sid, { value: copy, expiresAt: Date.now() + ttlMs });
  }

  takeTicket(sid: string): SessionTicket | null {
    const entry = this.#tickets.get(sid);
    if (entry === undefined) return null;
    this.#tickets.delete(sid);
    if (this.#userTickets.get(entry.value.userId) === sid) {
      this.#userTickets.delete(entry.value.userId);
    }
    return entry.expiresAt > Date.now() ? entry.value : null;
  }

  claim(key: string, members: readonly string[], ttlMs: number): boolean[] {
    const now = Date.now();
    let entry = this.#claims.get(key);
    if (entry === undefined || entry.expiresAt <= now) {
      entry = { value: new Set(), expiresAt: now + ttlMs };
      this.#claims.set(key, entry);
    } else {
      entry.expiresAt = Math.max(entry.expiresAt, now + ttlMs);
    }
    const set = entry.value;
    return members.map((member) => {
      if (set.has(member)) return false;
      set.add(member);
      return true;
    });
  }

  releaseClaims(key: string): void {
    this.#claims.delete(key);
  }

  setUser(userId: string, location: UserLocation, ttlMs: number): void {
    this.#users.set(userId, { value: { ...location }, expiresAt: Date.now() + ttlMs });
  }

  /** Deletes the entry only if it is still `location`. */
  deleteUser(userId: string, location: UserLocation): void {
    const entry = this.#users.get(userId);
    if (
      entry !== undefined &&
      entry.value.nodeId === location.nodeId &&
      entry.value.sid === location.sid
    ) {
      this.#users.delete(userId);
    }
  }

  /** Extends the entry if it is still `location`, restores it if missing; false if it is elsewhere. */
  refreshUser(userId: string, location: UserLocation, ttlMs: number): boolean {
    const now = Date.now();
    const entry = this.#users.get(userId);
    if (entry === undefined || entry.expiresAt <= now) {
      this.#users.set(userId, { value: { ...location }, expiresAt: now + ttlMs });
      return true;
    }
    if (entry.value.nodeId !== location.nodeId || entry.value.sid !== location.sid) return false;
    entry.expiresAt = now + ttlMs;
    return true;
  }

  getUser(userId: string): UserLocation | null {
    const now = Date.now();
    const entry = this.#users.get(userId);
    if (entry === undefined) return null;
    if (entry.expiresAt <= now) {
      this.#users.delete(userId);
      return null;
    }
    return this.isAlive(entry.value.nodeId, now) ? { ...entry.value } : null;
  }

  /** Queues `envelope` for node `nodeId`; false when no mesh of that id is started here. */
  send(nodeId: string, envelope: Envelope): boolean {
    const receiver = this.#receivers.get(nodeId);
    if (receiver === undefined) return false;
    queueMicrotask(() => receiver(envelope));
    return true;
  }

  sendAll(envelope: Envelope): void {
    for (const receiver of this.#receivers.values()) queueMicrotask(() => receiver(envelope));
  }
}

export interface MemoryMeshOptions extends MeshOptions {
  /** Meshes sharing a hub form one cluster; default: a hub of its own (a one-node cluster). */
  hub?: MemoryMeshHub;
}

function copyPayload<T extends Envelope>(envelope: T): T {
  // Receivers get their own bytes, as they would from Redis; the sender may reuse its buffer.
  return 'payload' in envelope ? { ...envelope, payload: envelope.payload.slice() } : envelope;
}

/**
 * The in-process mesh, the embedded default: no external service. Several
 * meshes in one process form a cluster when they share a `MemoryMeshHub`.
 */
export class MemoryMesh extends BaseMesh {
  readonly hub: MemoryMeshHub;
  readonly #receiver: Receiver = (envelope) => this.receive(envelope);
  #attached = false;

  constructor(options: MemoryMeshOptions = {}) {
    super(options);
    this.hub = options.hub ?? new MemoryMeshHub();
  }

  protected async connect(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) throw abortReason(signal);
    this.hub.attach(this.nodeId, this.#receiver);
    this.#attached = true;
  }

  protected async disconnect(): Promise<void> {
    if (this.#attached) this.hub.detach(this.nodeId, this.#receiver);
    this.#attached = false;
  }

  protected override heartbeat(): Promise<void> {
    this.hub.sweep();
    return super.heartbeat();
  }

  protected async storeNode(node: NodeInfo): Promise<void> {
    this.hub.setNode(node, this.ttlMs);
  }

  protected async removeNode(nodeId: string): Promise<void> {
    this.hub.deleteNode(nodeId);
  }

  protected async loadNodes(): Promise<NodeInfo[]> {
    return this.hub.nodes();
  }

  protected async publishToNode(
    nodeId: string,
    envelope: Envelope,
    requireAlive: boolean,
  ): Promise<boolean> {
    if (requireAlive && !this.hub.isAlive(nodeId)) return false;
    return this.hub.send(nodeId, copyPayload(envelope));
  }

  protected async publishToAll(envelope: Envelope): Promise<void> {
    this.hub.sendAll(copyPayload(envelope));
  }

  protected async storeTicket(ticket: SessionTicket, ttlMs: number): Promise<void> {
    this.hub.setTicket(ticket, ttlMs);
  }

  protected async takeTicket(sid: string): Promise<SessionTicket | null> {
    return this.hub.takeTicket(sid);
  }

  protected async storeClaims(
    key: string,
    members: readonly string[],
    ttlMs: number,
  ): Promise<boolean[]> {
    return this.hub.claim(key, members, ttlMs);
  }

  protected async deleteClaims(key: string): Promise<void> {
    this.hub.releaseClaims(key);
  }

  protected async storeUser(userId: string, sid: string): Promise<void> {
    this.hub.setUser(userId, { nodeId: this.nodeId, sid }, this.ttlMs);
  }

  protected async deleteUser(userId: string, sid: string): Promise<void> {
    this.hub.deleteUser(userId, { nodeId: this.nodeId, sid });
  }

  protected async loadUser(userId: string): Promise<UserLocation | null> {
    return this.hub.getUser(userId);
  }

  protected async refreshUsers(users: ReadonlyMap<string, string>): Promise<string[]> {
    const lost: string[] = [];
    for (const [userId, sid] of users) {
      if (!this.hub.refreshUser(userId, { nodeId: this.nodeId, sid }, this.ttlMs))
        lost.push(userId);
    }
    return lost;
  }
}
