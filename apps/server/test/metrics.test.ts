import { channel } from 'node:diagnostics_channel';
import { createServer } from '@tidewire/server';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../src/metrics.ts';

describe('metrics', () => {
  let metrics: Metrics | null = null;
  afterEach(() => {
    metrics?.close();
    metrics = null;
  });

  it('counts UDP retransmissions and spurious losses by cause from the transport channels', async () => {
    metrics = createMetrics(createServer({ config: {}, env: {} }));
    const retransmit = channel('tidewire:udp:retransmit');
    const spurious = channel('tidewire:udp:spurious-loss');
    for (let i = 0; i < 3; i++) retransmit.publish({ seq: i, sends: 2 });
    spurious.publish({ lateMs: 31, cause: 'late-ack' });
    spurious.publish({ lateMs: 40, cause: 'late-ack' });
    spurious.publish({ lateMs: 12, cause: 'after-gap' });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^tidewire_retransmits_total 3$/m);
    expect(text).toMatch(/^tidewire_spurious_losses_total\{cause="late-ack"\} 2$/m);
    expect(text).toMatch(/^tidewire_spurious_losses_total\{cause="after-gap"\} 1$/m);

    // closed: no longer subscribed
    metrics.close();
    spurious.publish({ lateMs: 50, cause: 'late-ack' });
    expect(await metrics.registry.metrics()).toMatch(
      /^tidewire_spurious_losses_total\{cause="late-ack"\} 2$/m,
    );
  });
});
