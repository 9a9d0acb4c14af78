import {
  CORE_VER,
  CoreCommand,
  encodeFrame,
  type Frame,
  pack,
  packFrame,
  Status,
  unpack,
  WireErrorCode,
} from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CloseInfo,
  dialTcp,
  listenTcp,
  TcpCloseCode,
  type TcpConnection,
  TcpErrorCode,
  type TcpListener,
} from '../src/index.ts';
import { closeInfoOf, nextTick, rawClient, waitFor } from './helpers.ts';

let listener: TcpListener | null = null;
afterEach(async () => {
  await listener?.close({ graceMs: 100 });
  listener = null;
});

/** Listens and hands back each accepted connection, with the frames it receives. */
async function listenCollecting(options: Parameters<typeof listenTcp>[0] = {}) {
  const accepted: { connection: TcpConnection; frames: Frame[] }[] = [];
  listener = await listenTcp(options, (connection) => {
    const frames: Frame[] = [];
    connection.onFrame = (frame) => frames.push({ ...frame, payload: Buffer.from(frame.payload) });
    accepted.push({ connection, frames });
  });
  return { listener, accepted };
}

function sampleStream(): {
  bytes: Buffer;
  expected: { ver: number; cmd: number; status: number; payload: number[] }[];
} {
  const expected = [
    { ver: 2, cmd: 1, status: Status.Request, payload: [] as number[] },
    { ver: 2, cmd: 0xabcd, status: Status.Request, payload: [1, 2, 3] },
    { ver: 7, cmd: 300, status: Status.Ok, payload: Array.from({ length: 40 }, (_, i) => i) },
    { ver: 255, cmd: 65535, status: Status.Push, payload: [9] },
  ];
  const bytes = Buffer.concat(
    expected.map((f) => encodeFrame(f.ver, f.cmd, f.status, Uint8Array.from(f.payload))),
  );
  return { bytes, expected };
}

function plain(frames: Frame[]) {
  return frames.map((f) => ({ ver: f.ver, cmd: f.cmd, status: f.status, payload: [...f.payload] }));
}

describe('framing', () => {
  it('delivers the same frames whatever the split, many frames per read included', async () => {
    const { accepted } = await listenCollecting();
    const { bytes, expected } = sampleStream();
    const client = await rawClient(listener!.port);
    client.socket.setNoDelay(true);
    // All at once, then split at every byte boundary, then one byte per write.
    client.socket.write(bytes);
    for (let cut = 1; cut < bytes.length; cut++) {
      client.socket.write(bytes.subarray(0, cut));
      await nextTick();
      client.socket.write(bytes.subarray(cut));
    }
    for (let i = 0; i < bytes.length; i++) {
      client.socket.write(bytes.subarray(i, i + 1));
      if (i % 7 === 0) await nextTick();
    }
    const rounds = 1 + (bytes.length - 1) + 1;
    await waitFor(() => (accepted[0]?.frames.length ?? 0) === rounds * expected.length);
    const got = plain(accepted[0]!.frames);
    for (let r = 0; r < rounds; r++) {
      expect(got.slice(r * expected.length, (r + 1) * expected.length)).toEqual(expected);
    }
    expect(accepted[0]!.connection.framesReceived).toBe(rounds * expected.length);
    client.socket.destroy();
  });

  it('round-trips frames between listenTcp and dialTcp in both directions', async () => {
    listener = await listenTcp({}, (connection) => {
      connection.onFrame = (frame) => {
        connection.sendFrame(frame.ver, frame.cmd, Status.Ok, frame.payload);
      };
    });
    const client = await dialTcp({ host: '127.0.0.1', port: listener.port });
    expect(client.remotePort).toBe(listener.port);
    expect(client.remoteAddress).toBe('127.0.0.1');
    expect(client.localPort).toBeGreaterThan(0);
    const replies: Frame[] = [];
    client.onFrame = (frame) => replies.push({ ...frame, payload: Buffer.from(frame.payload) });
    for (let i = 0; i < 50; i++) {
      expect(client.send(packFrame(3, i, Status.Request, { i }))).toBe(true);
    }
    await waitFor(() => replies.length === 50);
    expect(replies.map((f) => [f.cmd, f.status, unpack<{ i: number }>(f.payload).i])).toEqual(
      Array.from({ length: 50 }, (_, i) => [i, Status.Ok, i]),
    );
    await client.close();
    expect(client.closed).toBe(true);
    expect(client.send(encodeFrame(2, 1, 0))).toBe(false);
    expect(client.sendFrame(2, 1, 0)).toBe(false);
  });

  it('hands onFrame the connection, so one handler serves all of them through `data`', async () => {
    // One function for every connection: it finds each one's state in `data`.
    const shared = (frame: Frame, connection: TcpConnection): void => {
      const state = connection.data as { name: string; count: number };
      state.count++;
      connection.sendFrame(
        frame.ver,
        frame.cmd,
        Status.Ok,
        Buffer.from(`${state.name}:${state.count}`),
      );
    };
    let accepted = 0;
    listener = await listenTcp({}, (connection) => {
      expect(connection.data).toBeUndefined();
      connection.data = { name: `c${accepted++}`, count: 0 };
      connection.onFrame = shared;
    });
    const clients = await Promise.all(
      [0, 1].map(() => dialTcp({ host: '127.0.0.1', port: listener!.port })),
    );
    const replies: string[][] = [[], []];
    clients.forEach((client, i) => {
      client.onFrame = (frame, connection) => {
        expect(connection).toBe(client);
        replies[i]!.push(frame.payload.toString());
      };
    });
    await waitFor(() => accepted === 2);
    for (let round = 0; round < 2; round++) for (const client of clients) client.sendFrame(2, 1, 0);
    await waitFor(() => replies[0]!.length === 2 && replies[1]!.length === 2);
    expect(replies.flat().sort()).toEqual(['c0:1', 'c0:2', 'c1:1', 'c1:2']);
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('protocol errors and disconnects', () => {
  async function expectProtocolError(
    options: Parameters<typeof listenTcp>[0],
    bytes: Buffer,
    code: string,
  ): Promise<void> {
    const { accepted } = await listenCollecting(options);
    const client = await rawClient(listener!.port);
    await waitFor(() => accepted.length === 1);
    const serverClose = closeInfoOf(accepted[0]!.connection);
    client.socket.write(bytes);
    const info = await serverClose;
    expect(info).toMatchObject({ code, remote: false });
    expect(info.error).toBeInstanceOf(Error);
    await client.closed;
    const last = client.frames.at(-1)!;
    expect([last.ver, last.cmd, last.status]).toEqual([
      CORE_VER,
      CoreCommand.Disconnect,
      Status.Push,
    ]);
    expect(unpack(last.payload)).toEqual({ code, reason: info.reason });
    expect(listener!.connections.size).toBe(0);
  }

  it('bad magic: sends a disconnect frame with the code, then closes', async () => {
    const good = encodeFrame(2, 1, 0, Uint8Array.of(1));
    await expectProtocolError(
      {},
      Buffer.concat([good, Buffer.from([0xd1, 0x00, 1, 2, 3])]),
      WireErrorCode.BadMagic,
    );
  });

  it('oversized length: closes with FRAME_TOO_LARGE before the payload arrives', async () => {
    const header = encodeFrame(2, 1, 0, new Uint8Array(101)).subarray(0, 10);
    await expectProtocolError(
      { maxPayloadLength: 100 },
      Buffer.from(header),
      WireErrorCode.FrameTooLarge,
    );
  });

  it('accepts a payload of exactly maxPayloadLength', async () => {
    const { accepted } = await listenCollecting({ maxPayloadLength: 100 });
    const client = await rawClient(listener!.port);
    client.socket.write(encodeFrame(2, 1, 0, new Uint8Array(100).fill(7)));
    await waitFor(() => (accepted[0]?.frames.length ?? 0) === 1);
    expect(accepted[0]!.frames[0]!.payload.length).toBe(100);
    client.socket.destroy();
  });

  it('a disconnect frame from the peer closes with its code and reason, remote', async () => {
    const { accepted } = await listenCollecting();
    const client = await dialTcp({ host: '127.0.0.1', port: listener!.port });
    await waitFor(() => accepted.length === 1);
    const serverClose = closeInfoOf(accepted[0]!.connection);
    const clientClose = closeInfoOf(client);
    client.sendFrame(2, 1, 0);
    await client.close('APP_BYE', 'see you');
    expect(await clientClose).toEqual({ code: 'APP_BYE', reason: 'see you', remote: false });
    expect(await serverClose).toEqual({ code: 'APP_BYE', reason: 'see you', remote: true });
    // The frame before the disconnect was delivered, the disconnect itself was not.
    expect(accepted[0]!.frames.map((f) => f.cmd)).toEqual([1]);
  });

  it('tolerates a malformed disconnect payload', async () => {
    const { accepted } = await listenCollecting();
    const client = await rawClient(listener!.port);
    await waitFor(() => accepted.length === 1);
    const serverClose = closeInfoOf(accepted[0]!.connection);
    client.socket.write(encodeFrame(0, 0, Status.Request, Buffer.from([0xc1, 0xff, 0x00])));
    expect(await serverClose).toMatchObject({
      code: TcpCloseCode.Unspecified,
      reason: '',
      remote: true,
    });
    await client.closed;
  });

  it('reads code and reason from a well-formed disconnect sent by a raw peer', async () => {
    const { accepted } = await listenCollecting();
    const client = await rawClient(listener!.port);
    await waitFor(() => accepted.length === 1);
    const serverClose = closeInfoOf(accepted[0]!.connection);
    client.socket.write(encodeFrame(0, 0, Status.Request, pack({ code: 'X', reason: 'y' })));
    expect(await serverClose).toEqual({ code: 'X', reason: 'y', remote: true });
  });

  it('a stream ending mid-frame reports TRUNCATED; at a boundary, PEER_ENDED', async () => {
    const { accepted } = await listenCollecting();
    const a = await rawClient(listener!.port);
    const b = await rawClient(listener!.port);
    await waitFor(() => accepted.length === 2);
    const aClose = closeInfoOf(accepted[0]!.connection);
    const bClose = closeInfoOf(accepted[1]!.connection);
    const frame = encodeFrame(2, 1, 0, new Uint8Array(20));
    a.socket.end(frame.subarray(0, 15));
    b.socket.end(frame);
    expect(await aClose).toMatchObject({ code: WireErrorCode.Truncated, remote: true });
    expect(await bClose).toMatchObject({ code: TcpCloseCode.PeerEnded, remote: true });
    expect(accepted[1]!.frames).toHaveLength(1);
    await Promise.all([a.closed, b.closed]);
  });

  it('an onFrame that throws closes the connection with HANDLER_FAILED', async () => {
    const boom = new Error('boom');
    const errors: string[] = [];
    const closes: CloseInfo[] = [];
    listener = await listenTcp(
      { logger: { error: (message) => errors.push(message) } },
      (connection) => {
        connection.onFrame = () => {
          throw boom;
        };
        connection.onClose = (info) => closes.push(info);
      },
    );
    const client = await rawClient(listener.port);
    client.socket.write(encodeFrame(2, 1, 0));
    await client.closed;
    await waitFor(() => closes.length === 1);
    expect(closes[0]).toMatchObject({
      code: TcpErrorCode.HandlerFailed,
      remote: false,
      error: boom,
    });
    expect(errors).toHaveLength(1);
  });

  it('close() is idempotent and destroy() reports its error code', async () => {
    const { accepted } = await listenCollecting();
    const client = await dialTcp({ host: '127.0.0.1', port: listener!.port });
    await waitFor(() => accepted.length === 1);
    const closes: unknown[] = [];
    client.onClose = (info) => closes.push(info);
    const first = client.close();
    const second = client.close('OTHER');
    await Promise.all([first, second]);
    expect(closes).toEqual([{ code: TcpCloseCode.Normal, reason: '', remote: false }]);

    const other = await dialTcp({ host: '127.0.0.1', port: listener!.port });
    const otherClose = closeInfoOf(other);
    other.destroy();
    other.destroy();
    expect(await otherClose).toMatchObject({ code: TcpErrorCode.Destroyed, remote: false });
  });
});
