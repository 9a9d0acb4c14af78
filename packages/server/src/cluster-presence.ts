/**
 * Cluster presence: this node in the mesh's registry. Registers the node at
 * start (role, addresses, state, CCU, load, meta), reports changes while it
 * runs (state at once, CCU at most every second, a new public endpoint), and
 * picks the node a new session goes to.
 */
import { endpointFor, type Mesh, type NodeInfo, servesRole } from '@tidewire/mesh';
import type { Logger } from '@tidewire/wire';
import { formatEndpoint, parseEndpoint, type ServerConfig } from './config.ts';
import { ServerState } from './state.ts';
import { TCPType, type Transport, UDPType } from './transport-types.ts';
import type { TransportAdapter, TransportListener } from './user-connection.ts';

/** How often CCU changes are reported to the mesh, ms. */
const CCU_REPORT_INTERVAL_MS = 1_000;

/** What presence reads of the node. */
export interface NodeView {
  readonly logger: Logger;
  mesh(): Mesh;
  config(): ServerConfig;
  state(): ServerState;
  ccu(): number;
  connector(): boolean;
  httpPort(): number;
  /** The running transports: adapter and listener, in registration order. */
  running(): readonly { adapter: TransportAdapter; listener: TransportListener }[];
  endPoint(): string;
  publicEndPoint(): string;
  publicUdpEndPoint(): string;
  publicHost(): string;
}

export class ClusterPresence {
  readonly #node: NodeView;
  /** True between registerNode and the mesh's close: updates may be reported. */
  #registered = false;
  #ccuReported = -1;
  #ccuTimer: NodeJS.Timeout | null = null;

  constructor(node: NodeView) {
    this.#node = node;
  }

  /** Registers this node with its public endpoint, state and load, then reports CCU changes. */
  async register(): Promise<void> {
    const node = this.#node;
    const config = node.config();
    const running = node.running();
    // A connector registers the external server; a session-only node its HTTP endpoint.
    const { host, port } = node.connector()
      ? parseEndpoint(config.connector.endpoint, 'connector.endpoint')
      : running.length > 0
        ? parseEndpoint(node.publicEndPoint(), 'public endpoint')
        : { host: node.publicHost() || config.http.address, port: node.httpPort() };
    this.#ccuReported = node.ccu();
    await node.mesh().registerNode({
      id: node.mesh().nodeId,
      role: node.connector()
        ? config.connector.transport
        : this.#has(TCPType)
          ? 'tcp'
          : this.#has(UDPType)
            ? 'udp'
            : 'http',
      internalAddress: node.endPoint() || formatEndpoint(config.http.address, node.httpPort()),
      publicHost: host,
      publicPort: port,
      state: node.state(),
      ccu: node.ccu(),
      load: this.#load(),
      meta: this.#meta(),
    });
    this.#registered = true;
    this.#ccuTimer = setInterval(() => this.reportCcu(), CCU_REPORT_INTERVAL_MS);
    this.#ccuTimer.unref();
  }

  /** Stops reporting (the mesh is about to close). */
  unregister(): void {
    if (this.#ccuTimer !== null) clearInterval(this.#ccuTimer);
    this.#ccuTimer = null;
    this.#registered = false;
  }

  reportState(state: ServerState): void {
    this.#report({ state });
  }

  /** Reports CCU and load when they changed. */
  reportCcu(): void {
    const ccu = this.#node.ccu();
    if (ccu === this.#ccuReported) return;
    this.#ccuReported = ccu;
    this.#report({ ccu, load: this.#load() });
  }

  /** After start, a new public endpoint goes to the registry (and so to new sessions). */
  reportPublicEndpoint(): void {
    if (!this.#registered || this.#node.running().length === 0) return;
    const { host, port } = parseEndpoint(this.#node.publicEndPoint(), 'public endpoint');
    this.#report({ publicHost: host, publicPort: port, meta: this.#meta() });
  }

  /**
   * The node a new session of `transport` goes to, passing over nodes whose
   * endpoint for it ("host:port") is in `avoid`; null when none accepts users
   * now, 'unserved' when no live node of the cluster serves `transport`.
   */
  async allocate(
    transport: 'tcp' | 'udp',
    avoid: ReadonlySet<string> = new Set(),
  ): Promise<
    { nodeId: string; host: string; port: number; encryption: boolean } | null | 'unserved'
  > {
    const mesh = this.#node.mesh();
    const skip =
      avoid.size === 0
        ? undefined
        : (node: NodeInfo): boolean => {
            const endpoint = endpointFor(node, transport);
            return endpoint !== null && avoid.has(formatEndpoint(endpoint.host, endpoint.port));
          };
    const node = await mesh.selectNode(transport, skip === undefined ? {} : { skip });
    if (node === null) {
      const nodes = await mesh.listNodes();
      return nodes.some((n) => servesRole(n, transport)) ? null : 'unserved';
    }
    // This node's own state is authoritative even before its report reached the registry.
    if (node.id === mesh.nodeId && this.#node.state() !== ServerState.Online) return null;
    const endpoint = endpointFor(node, transport);
    if (endpoint === null) return null;
    return {
      nodeId: node.id,
      ...endpoint,
      encryption: node.meta?.[`encryption.${transport}`] === 'true',
    };
  }

  #has(type: Transport): boolean {
    return this.#node.running().some((r) => r.adapter.type === type);
  }

  /** Registry extras: the HTTP endpoint, UDP beside TCP, encryption, connector. */
  #meta(): Record<string, string> {
    const node = this.#node;
    const config = node.config();
    const meta: Record<string, string> = {
      http: formatEndpoint(config.http.address, node.httpPort()),
    };
    if (node.connector()) meta.connector = 'true';
    if (this.#has(UDPType) && this.#has(TCPType)) {
      meta.roles = 'udp';
      meta['endpoint.udp'] = node.publicUdpEndPoint();
    }
    for (const { adapter } of [...node.running()].reverse()) {
      if (adapter.encryption(config)) meta[`encryption.${adapter.type}`] = 'true';
    }
    return meta;
  }

  #load(): number {
    const config = this.#node.config();
    let max = 0;
    for (const { adapter } of this.#node.running()) max += adapter.maxConnections(config);
    return max > 0 ? Math.min(1, this.#node.ccu() / max) : 0;
  }

  #report(patch: Parameters<Mesh['updateNode']>[0]): void {
    if (!this.#registered) return;
    this.#node
      .mesh()
      .updateNode(patch)
      .catch((err: unknown) => {
        this.#node.logger.warn?.('mesh: node update failed', { error: String(err) });
      });
  }
}
