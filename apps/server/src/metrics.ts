import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TidewireServer } from '@tidewire/server';
import { tcpByteTotals } from '@tidewire/transport-tcp';
import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client';
import { CommandStats } from './command-stats.ts';
import { FoldedCommandHistogram } from './folded-histogram.ts';

/**
 * Prometheus metrics for one node, fed by the libraries' diagnostics
 * channels: served as text at GET /metrics on the HTTP endpoint. What
 * happens per message (bytes read and written, commands handled) is counted
 * in plain numbers and folded into prom-client when a scrape collects them,
 * so that metrics cost the hot path an addition, not a label lookup.
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
  // Read at scrape time from transport-tcp's running totals (from here on).
  const tcpBaseline = tcpByteTotals();
  new Counter({
    name: 'tidewire_bytes_total',
    help: 'Bytes received (in) and sent (out), by transport',
    labelNames: ['transport', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      const totals = tcpByteTotals();
      const read = totals.in - tcpBaseline.in;
      const written = totals.out - tcpBaseline.out;
      if (read > 0) this.inc({ transport: 'tcp', direction: 'in' }, read);
      if (written > 0) this.inc({ transport: 'tcp', direction: 'out' }, written);
    },
  });
  const commandStats = new CommandStats([0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]);
  new Counter({
    name: 'tidewire_commands_total',
    help: 'Commands handled, by ver, cmd and outcome',
    labelNames: ['ver', 'cmd', 'ok'],
    registers: [registry],
    collect() {
      this.reset();
      for (const entry of commandStats.entries()) {
        const ver = String(entry.ver);
        const cmd = String(entry.cmd);
        if (entry.ok > 0) this.inc({ ver, cmd, ok: 'true' }, entry.ok);
        if (entry.failed > 0) this.inc({ ver, cmd, ok: 'false' }, entry.failed);
      }
    },
  });
  registry.registerMetric(
    new FoldedCommandHistogram(
      'tidewire_command_duration_seconds',
      'Time from the start of a command chain to its end',
      commandStats,
    ) as unknown as Metric,
  );
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
      'tidewire:router:command',
      (m) => {
        const { ver, cmd, ok, durationMs } = m as {
          ver: number;
          cmd: number;
          ok: boolean;
          durationMs: number;
        };
        commandStats.record(ver, cmd, ok, durationMs / 1000);
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
