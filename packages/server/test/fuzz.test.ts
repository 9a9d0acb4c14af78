import { afterEach, describe, expect, it } from 'vitest';
import type { TidewireServer } from '../src/index.ts';
import { startEchoServer } from './echo-server.ts';
import { runFuzz } from './fuzz/harness.ts';

let server: TidewireServer;
afterEach(async () => {
  await server?.close();
});

describe('fuzzing', () => {
  it('hostile frames, datagrams and WS messages crash nothing, are refused with typed codes, and good clients get every answer', async () => {
    server = await startEchoServer({ udp: { enableEncryption: true } });
    // Small here; `pnpm fuzz` runs a million of each.
    const report = await runFuzz({
      server,
      frames: 20_000,
      datagrams: 20_000,
      messages: 20_000,
      seed: 7,
    });
    expect(report.framesSent).toBe(20_000);
    expect(report.datagramsSent).toBe(20_000);
    expect(report.messagesSent).toBe(20_000);
    expect(report.wellBehaved.sent).toBeGreaterThan(50);
    expect(report.wellBehaved.wrong).toBe(0);
    expect(report.wellBehaved.failed).toBe(0);
    expect(report.wellBehaved.answered).toBe(report.wellBehaved.sent);
    // Hostile connections were closed for what they did, with typed codes.
    const codes = Object.keys(report.tcpCloses);
    expect(
      codes.some((c) => c === 'TIDEWIRE_ERR_BAD_MAGIC' || c === 'TIDEWIRE_ERR_FRAME_TOO_LARGE'),
    ).toBe(true);
    expect(codes.every((c) => /^TIDEWIRE_(ERR|CLOSE)_[A-Z_]+$/.test(c))).toBe(true);
    // Over WS too, each with the close code of protocol section 14.
    const wsCodes = Object.keys(report.wsCloses);
    for (const code of [
      'TIDEWIRE_ERR_BAD_MAGIC',
      'TIDEWIRE_ERR_TRUNCATED',
      'TIDEWIRE_ERR_FRAME_TOO_LARGE',
      'TIDEWIRE_ERR_TEXT_MESSAGE',
      'TIDEWIRE_ERR_MESSAGE_TOO_LARGE',
    ]) {
      expect(wsCodes).toContain(code);
    }
    expect(wsCodes.every((c) => /^TIDEWIRE_(ERR|CLOSE)_[A-Z_]+$/.test(c))).toBe(true);
    expect(Object.values(report.udpDrops).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // The server still serves: state and a fresh session.
    expect(server.state).toBe('ONLINE');
    for (const transport of ['tcp', 'ws']) {
      const res = await fetch(
        `http://127.0.0.1:${server.httpPort}/v1/endpoint/${transport}/user/after-fuzz`,
      );
      expect(res.status).toBe(200);
    }
  });
});
