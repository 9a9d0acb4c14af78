import type { Logger } from '@tidewire/wire';

/** What a node does: serves the HTTP session endpoint, a transport, or connects clients. */
export type NodeRole = 'http' | 'tcp' | 'udp' | 'connector';

/** ONLINE accepts new users; TAKEN accepts none but runs everything; OFFLINE drains. */
export type ServerState = 'ONLINE' | 'TAKEN' | 'OFFLINE';

/** One node of the cluster, as the registry holds it. */
export interface NodeInfo {
  /** Unique in the cluster: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`. */
  id: string;
  role: NodeRole;
  /** Where other nodes reach this one (host:port of an internal listener), free text. */
  internalAddress: string;
  /** The endpoint handed to clients. */
  publicHost: string;
  publicPort: number;
  state: ServerState;
  /** Concurrent users connected to the node. */
  ccu: number;
  /** Fraction of capacity in use, as the node reports it: 0 idle, 1 full. */
  load: number;
  /**
   * Milliseconds since the epoch of the node's last report (`registerNode` or
   * `updateNode`). Heartbeats keep the record alive without changing it.
   */
  updatedAt: number;
  meta?: Record<string, string>;
}

/** Options of `Mesh.selectNode`. */
export interface SelectOptions {
  /** Nodes to pass over. */
  skip?: (node: NodeInfo) => boolean;
}

/** What `registerNode` takes: a `NodeInfo` without `updatedAt`. */
export type NodeRegistration = Omit<NodeInfo, 'updatedAt'>;

/** The fields `updateNode` may change. */
export type NodePatch = Partial<
  Pick<NodeInfo, 'state' | 'ccu' | 'load' | 'publicHost' | 'publicPort' | 'meta'>
>;

export interface NodeFilter {
  role?: NodeRole;
  state?: ServerState;
}

/** A cluster message, as `onMessage` handlers receive it. */
export interface MeshMessage {
  /** Id of the sending node. */
  from: string;
  /** Free text chosen by the sender, e.g. `'notify'`, `'room'`. */
  topic: string;
  payload: Uint8Array;
}

/** Client details a session ticket may carry (msgpack-encodable values). */
export type ClientInfo = Record<string, string | number | boolean | null>;

/** A session handed out by the HTTP endpoint and consumed by the transport node. */
export interface SessionTicket {
  sid: string;
  key: string;
  userId: string;
  /** The node the client was sent to. */
  nodeId: string;
  transport: 'tcp' | 'udp';
  /** Milliseconds since the epoch. */
  expiresAt: number;
  clientInfo?: ClientInfo;
}

/** Where a user is connected. */
export interface UserLocation {
  nodeId: string;
  sid: string;
}

/** Who a user message is for: a user (sendToUser) or a session (sendPM). */
export interface UserTarget {
  userId?: string;
  sid: string;
}

/**
 * Delivers a user message on the receiving node. Return (or resolve) `true`
 * when delivered, `false` when the user or session is not on this node.
 */
export type UserMessageHandler = (
  target: UserTarget,
  ver: number,
  cmd: number,
  payload: Uint8Array,
) => boolean | Promise<boolean>;

export type MessageHandler = (message: MeshMessage) => void;

/** The cluster mesh. `MemoryMesh` and `RedisMesh` implement it. */
export interface Mesh {
  readonly nodeId: string;
  /** Connects and subscribes. Rejects with `TIDEWIRE_ERR_MESH_UNREACHABLE`. */
  start(signal?: AbortSignal): Promise<void>;
  /** Deregisters this node, stops timers, rejects pending requests, disconnects. Idempotent. */
  close(): Promise<void>;
  /** (Re)publishes this node; heartbeats keep it alive every `ttlMs / 3`. */
  registerNode(info: NodeRegistration): Promise<void>;
  updateNode(patch: NodePatch): Promise<void>;
  /** Live nodes, sorted by id. */
  listNodes(filter?: NodeFilter): Promise<NodeInfo[]>;
  /**
   * The ONLINE node of `role` to send a new user to (rule in the README), or
   * null; nodes for which `options.skip` returns true are passed over (a node
   * a client just failed to reach).
   */
  selectNode(role: NodeRole, options?: SelectOptions): Promise<NodeInfo | null>;
  issueTicket(ticket: SessionTicket, ttlMs: number): Promise<void>;
  /** Single use: atomic get and delete. Null when unknown, used or expired. */
  consumeTicket(sid: string): Promise<SessionTicket | null>;
  /**
   * Cluster-wide "first time" check: adds `members` to the claim set `key`
   * and answers, per member, true when this call added it (nobody claimed it
   * before) and false otherwise. The set lives at least `ttlMs` more. Used,
   * for example, so that a user never receives a notification twice on any node.
   */
  claim(key: string, members: readonly string[], ttlMs: number): Promise<boolean[]>;
  /** Deletes the claim set `key`. */
  releaseClaims(key: string): Promise<void>;
  /** Records that `userId` is connected to this node with session `sid`. */
  setUserLocation(userId: string, sid: string): Promise<void>;
  /** Forgets the location, only if it is still this node's session `sid`. */
  removeUserLocation(userId: string, sid: string): Promise<void>;
  /** Where the user is connected, on a live node, or null. */
  locateUser(userId: string): Promise<UserLocation | null>;
  /** To every started node, this one included. */
  broadcast(topic: string, payload: Uint8Array): Promise<void>;
  /** To one live registered node; rejects `TIDEWIRE_ERR_NODE_UNKNOWN` otherwise. */
  sendToNode(nodeId: string, topic: string, payload: Uint8Array): Promise<void>;
  /** Subscribes to broadcast and direct messages; returns the unsubscribe function. */
  onMessage(handler: MessageHandler): () => void;
  /** Locates the user and resolves once their node has delivered the message. */
  sendToUser(userId: string, ver: number, cmd: number, payload: Uint8Array): Promise<void>;
  /**
   * @deprecated The seed's form: use `sendToUser`. Delivers to session `sid` on
   * the node `nodeId`, which may also be the node's `internalAddress` (the
   * seed's `nodeAddr`).
   */
  sendPM(nodeId: string, sid: string, ver: number, cmd: number, message: Uint8Array): Promise<void>;
  /** Installs the handler that delivers user messages on this node (one; a later call replaces it). */
  onUserMessage(handler: UserMessageHandler): void;
}

/** Options common to both implementations. */
export interface MeshOptions {
  /** This node's id; default `<hostname>-<pid>-<6 random hex>` sanitised. */
  nodeId?: string;
  /** Registry entry and user locations live this long without a heartbeat (default 6000 ms). */
  ttlMs?: number;
  /** How long `sendToUser`/`sendPM` wait for the target node's acknowledgement (default 3000 ms). */
  requestTimeoutMs?: number;
  logger?: Logger;
}
