import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TidewireServer } from '@tidewire/server';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics for one node, fed by the libraries' diagnostics
 * channels: served as text at GET /metrics on the HTTP endpoint.
 */
export interface Metrics {
  readonly registry: Registry;
  /** The HTTP route: true when it answered. */
  route(request: IncomingMessage, response: ServerResponse): Promise<boolean>;
  /** Unsubscribes from every channel. */
  close(): void;
}

const STATES = ['ONLINE', 'TAKEN', 'OFFLINE'] as const;

export function createMetrics(server: TidewireServer): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'tidewire_ccu',
    help: 'Users connected to this node',
    registers: [registry],
    collect() {
      this.set(server.ccu);
    },
  });
  new Gauge({
    name: 'tidewire_server_state',
    help: 'Server state: 1 for the current one',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      for (const state of STATES) this.set({ state }, server.state === state ? 1 : 0);
    },
  });
  const connections = new Counter({
    name: 'tidewire_connections_total',
    help: 'Connections accepted, by transport',
    labelNames: ['transport'],
    registers: [registry],
  });
  const open = new Gauge({
    name: 'tidewire_connections_open',
    help: 'Open connections, by transport',
    labelNames: ['transport'],
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'tidewire_bytes_total',
    help: 'Bytes received (in) and sent (out), by transport',
    labelNames: ['transport', 'direction'],
    registers: [registry],
  });
  const commands = new Counter({
    name: 'tidewire_commands_total',
    help: 'Commands handled, by ver, cmd and outcome',
    labelNames: ['ver', 'cmd', 'ok'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'tidewire_command_duration_seconds',
    help: 'Time from the start of a command chain to its end',
    labelNames: ['ver', 'cmd'],
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const retransmits = new Counter({
    name: 'tidewire_retransmits_total',
    help: 'Reliable UDP packets sent again',
    registers: [registry],
  });
  const spuriousLosses = new Counter({
    name: 'tidewire_spurious_losses_total',
    help: 'Reliable UDP packets declared lost and acknowledged after all, by cause: late-ack (the client stalled) or after-gap (an ACK was lost)',
    labelNames: ['cause'],
    registers: [registry],
  });
  const notifications = new Counter({
    name: 'tidewire_notifications_delivered_total',
    help: 'Notification pushes sent to users',
    registers: [registry],
  });

  const meshUp = new Gauge({
    name: 'tidewire_mesh_up',
    help: 'Whether the mesh (Redis) connection is up: 1 up, 0 down',
    registers: [registry],
  });
  meshUp.set(1);
  const meshDropped = new Counter({
    name: 'tidewire_mesh_dropped_total',
    help: 'Malformed or undeliverable mesh messages dropped',
    registers: [registry],
  });

  const handlers: [string, (message: unknown) => void][] = [
    [
      'tidewire:mesh:connection',
      (m) => meshUp.set((m as { event: string }).event === 'up' ? 1 : 0),
    ],
    ['tidewire:mesh:dropped', () => meshDropped.inc()],
    [
      'tidewire:tcp:connection',
      () => {
        connections.inc({ transport: 'tcp' });
        open.inc({ transport: 'tcp' });
      },
    ],
    ['tidewire:tcp:close', () => open.dec({ transport: 'tcp' })],
    [
      'tidewire:tcp:bytes',
      (m) => {
        const { direction, bytes: n } = m as { direction: string; bytes: number };
        bytes.inc({ transport: 'tcp', direction }, n);
      },
    ],
    [
      'tidewire:router:command',
      (m) => {
        const { ver, cmd, ok, durationMs } = m as {
          ver: number;
          cmd: number;
          ok: boolean;
          durationMs: number;
        };
        const labels = { ver: String(ver), cmd: String(cmd) };
        commands.inc({ ...labels, ok: String(ok) });
        latency.observe(labels, durationMs / 1000);
      },
    ],
    ['tidewire:udp:retransmit', () => retransmits.inc()],
    [
      'tidewire:udp:spurious-loss',
      (m) => spuriousLosses.inc({ cause: (m as { cause: string }).cause }),
    ],
    ['tidewire:notifier:deliver', (m) => notifications.inc((m as { users: number }).users)],
  ];
  for (const [name, handler] of handlers) subscribe(name, handler);

  return {
    registry,
    async route(request, response) {
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      if (path !== '/metrics') return false;
      if (request.method !== 'GET') {
        response.writeHead(405, { allow: 'GET' }).end();
        return true;
      }
      const body = await registry.metrics();
      response.writeHead(200, { 'content-type': registry.contentType }).end(body);
      return true;
    },
    close() {
      for (const [name, handler] of handlers) unsubscribe(name, handler);
    },
  };
}
