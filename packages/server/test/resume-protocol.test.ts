/**
 * Resume as protocol section 13 states it, frame by frame over raw TCP: the
 * token in the hello answer, opting in, numbering, the resume handshake,
 * single use, the newest connection winning, and what a client that never
 * opts in sees.
 */
import { dialTcp, type TcpConnection } from '@tidewire/transport-tcp';
import { dialUdp } from '@tidewire/transport-udp';
import {
  CORE_VER,
  CoreCommand,
  deriveResumeKey,
  encodeFrame,
  type Frame,
  HEADER_SIZE,
  openFrame,
  pack,
  SessionCipher,
  Status,
  sealFrame,
  unpack,
} from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, Ok, type TidewireServer } from '../src/index.ts';
import { getSession, testServer, waitFor } from './helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Raw {
  conn: TcpConnection;
  frames: Frame[];
  closed: string | null;
}

async function raw(server: TidewireServer): Promise<Raw> {
  const conn = await dialTcp({ host: '127.0.0.1', port: server.tcpPort });
  const out: Raw = { conn, frames: [], closed: null };
  conn.onFrame = (frame) => out.frames.push(frame);
  conn.onClose = (info) => {
    out.closed = info.code;
  };
  cleanups.push(() => conn.destroy());
  return out;
}

async function next(r: Raw, cmd: number, ver = CORE_VER): Promise<Frame> {
  await waitFor(() => r.frames.some((f) => f.ver === ver && f.cmd === cmd), 3000, `frame ${cmd}`);
  const index = r.frames.findIndex((f) => f.ver === ver && f.cmd === cmd);
  return r.frames.splice(index, 1)[0]!;
}

async function hello(
  server: TidewireServer,
  uid: string,
): Promise<{ r: Raw; token: Buffer; ttlMs: number }> {
  const { body } = await getSession(server, uid);
  const r = await raw(server);
  r.conn.send(
    encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.from(String(body.sid), 'hex')),
  );
  const answer = unpack<{ resume: { token: Uint8Array; ttlMs: number } }>(
    (await next(r, CoreCommand.Hello)).payload,
  );
  return { r, token: Buffer.from(answer.resume.token), ttlMs: answer.resume.ttlMs };
}

const ack = (received: number): Buffer =>
  encodeFrame(CORE_VER, CoreCommand.Ack, Status.Request, pack({ received }));
const resumeFrame = (token: Buffer, received: number): Buffer =>
  encodeFrame(
    CORE_VER,
    CoreCommand.Resume,
    Status.Request,
    Buffer.concat([token, pack({ received })]),
  );

async function echoServer(): Promise<TidewireServer> {
  const server = await testServer({}, (s) => {
    s.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Ok);
      next();
    });
  });
  cleanups.push(() => server.close());
  return server;
}

describe('resume handshake (raw TCP)', () => {
  it('hands out a 16-byte token and the ttl; resumes with what each side received', async () => {
    const server = await echoServer();
    const { r, token, ttlMs } = await hello(server, 'raw-1');
    expect(token.length).toBe(16);
    expect(ttlMs).toBe(20_000);
    r.conn.send(ack(0)); // opt in
    for (let i = 1; i <= 3; i++) r.conn.send(encodeFrame(2, 1, Status.Request, pack(i)));
    for (let i = 1; i <= 3; i++) await next(r, 1, 2);
    // The client "received" only the first answer; the path dies.
    r.conn.destroy();
    await waitFor(() => server.getUser('raw-1')?.held === true, 3000, 'held');
    const second = await raw(server);
    second.conn.send(resumeFrame(token, 1));
    const answer = unpack<{ received: number; resume: { token: Uint8Array } }>(
      (await next(second, CoreCommand.Resume)).payload,
    );
    // Acks are not numbered: the node received the 3 requests.
    expect(answer.received).toBe(3);
    expect(Buffer.from(answer.resume.token).equals(token)).toBe(false);
    // Answers 2 and 3 are sent again, in order, then the connection goes on.
    const replayed = [await next(second, 1, 2), await next(second, 1, 2)];
    expect(replayed.map((f) => unpack<number>(f.payload))).toEqual([2, 3]);
    second.conn.send(encodeFrame(2, 1, Status.Request, pack(4)));
    expect(unpack<number>((await next(second, 1, 2)).payload)).toBe(4);
    expect(server.getUser('raw-1')?.held).toBe(false);
  });

  it('a token is single use: refused once the resumed connection was used', async () => {
    const server = await echoServer();
    const { r, token } = await hello(server, 'raw-2');
    r.conn.send(ack(0));
    r.conn.send(encodeFrame(2, 1, Status.Request, pack(1)));
    await next(r, 1, 2);
    r.conn.destroy();
    await waitFor(() => server.getUser('raw-2')?.held === true, 3000, 'held');
    const second = await raw(server);
    second.conn.send(resumeFrame(token, 1));
    await next(second, CoreCommand.Resume);
    second.conn.send(ack(1)); // the client's first frame: it has the new token
    second.conn.send(encodeFrame(2, 1, Status.Request, pack(2)));
    await next(second, 1, 2);
    const third = await raw(server);
    third.conn.send(resumeFrame(token, 1));
    const refusal = await next(third, CoreCommand.Resume);
    expect(refusal.status).toBe(Status.Bad);
    expect(unpack<{ code: string }>(refusal.payload).code).toBe('TIDEWIRE_ERR_RESUME_INVALID');
    await waitFor(() => third.closed !== null, 3000, 'closed');
    // The resumed connection is untouched.
    second.conn.send(encodeFrame(2, 1, Status.Request, pack(3)));
    expect(unpack<number>((await next(second, 1, 2)).payload)).toBe(3);
  });

  it('a resume whose answer was lost can be made again with the same token', async () => {
    const server = await echoServer();
    const { r, token } = await hello(server, 'raw-lost');
    r.conn.send(ack(0));
    r.conn.destroy();
    await waitFor(() => server.getUser('raw-lost')?.held === true, 3000, 'held');
    const lost = await raw(server);
    lost.conn.send(resumeFrame(token, 0));
    await next(lost, CoreCommand.Resume); // this answer "never arrived": the client has no new token
    lost.conn.destroy();
    await waitFor(() => server.getUser('raw-lost')?.held === true, 3000, 'held again');
    const again = await raw(server);
    again.conn.send(resumeFrame(token, 0));
    expect((await next(again, CoreCommand.Resume)).status).toBe(Status.Ok);
  });

  it('the newest connection wins: a live one is closed with TIDEWIRE_ERR_RESUMED', async () => {
    const server = await echoServer();
    const { r, token } = await hello(server, 'raw-3');
    r.conn.send(ack(0));
    const disconnects: string[] = [];
    const leaves: string[] = [];
    server.onDisconnect((reason) => disconnects.push(reason));
    server.onLeave((reason) => leaves.push(reason));
    const second = await raw(server);
    second.conn.send(resumeFrame(token, 0));
    expect((await next(second, CoreCommand.Resume)).status).toBe(Status.Ok);
    await waitFor(() => r.closed !== null, 3000, 'old connection closed');
    expect(r.closed).toBe('TIDEWIRE_ERR_RESUMED');
    await waitFor(() => disconnects.length === 1, 3000, 'onDisconnect');
    expect(disconnects).toEqual(['TIDEWIRE_ERR_RESUMED']);
    expect(leaves).toEqual([]);
    expect(server.getUser('raw-3')).toBeDefined();
  });

  it('refuses an unknown token, a received above what was sent, and a non-resume first frame', async () => {
    const server = await echoServer();
    const unknown = await raw(server);
    unknown.conn.send(resumeFrame(Buffer.alloc(16, 1), 0));
    expect(unpack<{ code: string }>((await next(unknown, CoreCommand.Resume)).payload).code).toBe(
      'TIDEWIRE_ERR_RESUME_INVALID',
    );
    const { r, token } = await hello(server, 'raw-4');
    r.conn.send(ack(0));
    r.conn.destroy();
    await waitFor(() => server.getUser('raw-4')?.held === true, 3000, 'held');
    const ahead = await raw(server);
    ahead.conn.send(resumeFrame(token, 5)); // the node sent nothing numbered yet
    const refusal = await next(ahead, CoreCommand.Resume);
    expect(unpack<{ code: string }>(refusal.payload).code).toBe('TIDEWIRE_ERR_RESUME_INVALID');
    // The refusal did not consume the token.
    const good = await raw(server);
    good.conn.send(resumeFrame(token, 0));
    expect((await next(good, CoreCommand.Resume)).status).toBe(Status.Ok);
  });
});

describe('any transport of the node', () => {
  it('a seat that said hello over TCP resumes over UDP (the token in the INIT)', async () => {
    const both = createServer({
      config: { http: { port: 0 }, tcp: { port: 0 }, udp: { port: 0 } },
      env: {},
    });
    await both.setupAsTCPServer();
    await both.setupAsUDPServer();
    both.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Ok);
      next();
    });
    await both.start();
    cleanups.push(() => both.close());
    const { r, token } = await hello(both, 'crosser');
    r.conn.send(ack(0));
    r.conn.send(encodeFrame(2, 1, Status.Request, pack(1)));
    await next(r, 1, 2);
    r.conn.destroy();
    await waitFor(() => both.getUser('crosser')?.held === true, 3000, 'held');
    const udp = await dialUdp({
      host: '127.0.0.1',
      port: both.udpPort,
      sid: token,
      key: Buffer.alloc(16),
    });
    cleanups.push(() => udp.destroy());
    const frames: Frame[] = [];
    udp.onFrame = (frame) => frames.push(frame);
    udp.send(resumeFrame(token, 1));
    await waitFor(() => frames.some((f) => f.cmd === CoreCommand.Resume), 3000, 'resume answer');
    const answer = frames.find((f) => f.cmd === CoreCommand.Resume)!;
    expect(answer.status).toBe(Status.Ok);
    expect(unpack<{ received: number }>(answer.payload).received).toBe(1);
    udp.send(encodeFrame(2, 1, Status.Request, pack(2)));
    await waitFor(() => frames.some((f) => f.ver === 2), 3000, 'answer over UDP');
    expect(unpack<number>(frames.find((f) => f.ver === 2)!.payload)).toBe(2);
    // The user goes on over UDP now.
    expect(both.getUser('crosser')?.transport).toBe('udp');
  });
});

describe('encrypted seats', () => {
  it('resume only with the resume key derived from the session key', async () => {
    const server = await testServer({ config: { tcp: { enableEncryption: true } } });
    cleanups.push(() => server.close());
    const { body } = await getSession(server, 'sealed');
    const key = Buffer.from(String(body.key), 'hex');
    const r = await raw(server);
    const cipher = new SessionCipher(key, 'client');
    const info = sealFrame(cipher, CORE_VER, CoreCommand.Hello, Status.Request, Buffer.alloc(0));
    r.conn.send(
      encodeFrame(
        CORE_VER,
        CoreCommand.Hello,
        Status.Request,
        Buffer.concat([Buffer.from(String(body.sid), 'hex'), info.subarray(HEADER_SIZE)]),
      ),
    );
    const answer = unpack<{ resume: { token: Uint8Array } }>(
      openFrame(cipher, await next(r, CoreCommand.Hello)).payload,
    );
    const token = Buffer.from(answer.resume.token);
    r.conn.send(
      sealFrame(cipher, CORE_VER, CoreCommand.Ack, Status.Request, pack({ received: 0 })),
    );
    await waitFor(() => server.getUser('sealed') !== undefined, 3000, 'user');
    r.conn.destroy();
    await waitFor(() => server.getUser('sealed')?.held === true, 3000, 'held');
    const sealedResume = (sealWith: Buffer): Buffer => {
      const c = new SessionCipher(sealWith, 'client');
      const sealed = sealFrame(
        c,
        CORE_VER,
        CoreCommand.Resume,
        Status.Request,
        pack({ received: 0 }),
      );
      return encodeFrame(
        CORE_VER,
        CoreCommand.Resume,
        Status.Request,
        Buffer.concat([token, sealed.subarray(HEADER_SIZE)]),
      );
    };
    // The token alone, sealed with the session key itself, or plain: refused.
    for (const frame of [sealedResume(key), resumeFrame(token, 0)]) {
      const wrong = await raw(server);
      wrong.conn.send(frame);
      const refusal = await next(wrong, CoreCommand.Resume);
      expect(refusal.status).toBe(Status.Bad);
      expect(unpack<{ code: string }>(refusal.payload).code).toBe('TIDEWIRE_ERR_RESUME_INVALID');
    }
    // With the resume key: accepted, and the answer is sealed under it.
    const resumeKey = deriveResumeKey(key, token);
    const good = await raw(server);
    good.conn.send(sealedResume(resumeKey));
    const ok = await next(good, CoreCommand.Resume);
    expect(ok.status).toBe(Status.Ok);
    const opened = openFrame(new SessionCipher(resumeKey, 'client'), ok);
    expect(unpack<{ userId: string }>(opened.payload).userId).toBe('sealed');
  });
});

describe('a client that never opts in', () => {
  it('gets no ack frames and its user leaves when the connection dies', async () => {
    const server = await echoServer();
    const leaves: string[] = [];
    server.onLeave((reason) => leaves.push(reason));
    const { r } = await hello(server, 'old-client');
    for (let i = 1; i <= 40; i++) r.conn.send(encodeFrame(2, 1, Status.Request, pack(i)));
    for (let i = 1; i <= 40; i++) await next(r, 1, 2);
    await new Promise((resolve) => setTimeout(resolve, 1200)); // past the ack delay
    expect(r.frames.filter((f) => f.ver === CORE_VER && f.cmd === CoreCommand.Ack)).toEqual([]);
    r.conn.destroy();
    await waitFor(() => leaves.length === 1, 3000, 'left');
    expect(server.getUser('old-client')).toBeUndefined();
  });
});
