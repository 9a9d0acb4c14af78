import { channel } from 'node:diagnostics_channel';
import { pack, Status, unpack } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { Bad, Ok, type TidewireServer } from '../src/index.ts';
import { client, delay, testServer } from './helpers.ts';

let server: TidewireServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('command handling over TCP', () => {
  it('runs several handlers of one command in registration order, hooks first', async () => {
    const order: string[] = [];
    server = await testServer({}, (s) => {
      s.hookAllCommands((user, next, command) => {
        order.push(`hook:${user.id}:${command.cmd}`);
        next();
      });
      s.handleCommand(2, 10, (_v, _c, payload, _user, next) => {
        order.push(`first:${payload.toString()}`);
        next();
      });
      s.handleCommand(2, 10, async (ver, cmd, payload, user, next) => {
        await delay(5);
        order.push('second');
        user.send(ver, cmd, Buffer.from(`done ${payload.toString()}`), Ok);
        next();
      });
    });
    const c = await client(server, 'alice');
    const res = await c.request(2, 10, Buffer.from('x'));
    expect(res.status).toBe(Status.Ok);
    expect(res.payload.toString()).toBe('done x');
    expect(order).toEqual(['hook:alice:10', 'first:x', 'second']);
    await c.close();
  });

  it('next(err) stops the chain and answers Err once; a hook can stop everything', async () => {
    let reachedSecond = false;
    server = await testServer({}, (s) => {
      s.hookAllCommands((_user, next, command) => {
        if (command.cmd === 99)
          next(Object.assign(new Error('hook says no'), { code: 'APP_DENIED' }));
        else next();
      });
      s.handleCommand(2, 11, (_v, _c, _p, _u, next) => next(new Error('first failed')));
      s.handleCommand(2, 11, (_v, _c, _p, _u, next) => {
        reachedSecond = true;
        next();
      });
      s.handleCommand(2, 99, (ver, cmd, _p, user, next) => {
        user.send(ver, cmd, Buffer.alloc(0), Ok);
        next();
      });
      s.handleCommand(2, 12, () => {
        throw new Error('thrown');
      });
    });
    const c = await client(server, 'bob');
    const failed = await c.request(2, 11);
    expect(failed.status).toBe(Status.Err);
    // An uncoded error is a bug: its message stays on the server.
    expect(unpack<{ code: string; message: string }>(failed.payload)).toEqual({
      code: 'TIDEWIRE_ERR_HANDLER_FAILED',
      message: 'command handler failed',
    });
    expect(reachedSecond).toBe(false);
    const denied = await c.request(2, 99);
    expect(denied.status).toBe(Status.Err);
    expect(unpack<{ code: string }>(denied.payload).code).toBe('APP_DENIED');
    const thrown = await c.request(2, 12);
    expect(thrown.status).toBe(Status.Err);
    // The connection still works afterwards.
    expect((await c.request(0, 3, Buffer.from('p'))).payload.toString()).toBe('p');
    await c.close();
  });

  it('answers Bad for unknown commands and refuses reserved versions for app handlers', async () => {
    server = await testServer();
    expect(() => server!.handleCommand(0, 50, () => {})).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_RESERVED_COMMAND' }),
    );
    expect(() => server!.handleCommand(1, 50, () => {})).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_RESERVED_COMMAND' }),
    );
    const c = await client(server, 'carol');
    const res = await c.request(7, 7);
    expect(res.status).toBe(Status.Bad);
    expect(unpack<{ code: string }>(res.payload).code).toBe('TIDEWIRE_ERR_UNKNOWN_COMMAND');
    await c.close();
  });

  it('built-in modules register ver 1 commands and feed debug 904', async () => {
    server = await testServer({ config: { debug: true } }, (s) => {
      s.handleBuiltinCommand(7, (ver, cmd, payload, user, next) => {
        user.send(ver, cmd, payload, Ok);
        next();
      });
      s.setRoomDump(() => [{ id: 'room-1', members: ['bob'] }]);
      expect(() => s.handleCommand(1, 8, (_v, _c, _p, _u, next) => next())).toThrow(
        expect.objectContaining({ code: 'TIDEWIRE_ERR_RESERVED_COMMAND' }),
      );
    });
    const c = await client(server, 'bob');
    const res = await c.request(1, 7, Buffer.from('built-in'));
    expect([res.status, res.payload.toString()]).toEqual([Status.Ok, 'built-in']);
    const dump = await c.request(0, 904);
    expect(JSON.parse(dump.payload.toString())).toEqual([{ id: 'room-1', members: ['bob'] }]);
    await c.close();
  });

  it('a user over commands.rateLimit gets Bad, or is disconnected with action disconnect', async () => {
    server = await testServer(
      { config: { commands: { rateLimit: 5, rateLimitBurst: 2 } } },
      (s) => {
        s.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
          user.send(ver, cmd, payload, Ok);
          next();
        });
      },
    );
    const c = await client(server, 'spammer');
    const answers = await Promise.all([1, 2, 3, 4].map(() => c.request(2, 1, Buffer.from('x'))));
    expect(answers.map((a) => a.status)).toEqual([Status.Ok, Status.Ok, Status.Bad, Status.Bad]);
    expect(unpack<{ code: string }>(answers[2]!.payload).code).toBe('TIDEWIRE_ERR_RATE_LIMITED');
    await c.close();
    await server.close();

    server = await testServer(
      { config: { commands: { rateLimit: 5, rateLimitBurst: 1, rateLimitAction: 'disconnect' } } },
      (s) => {
        s.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
          user.send(ver, cmd, payload, Ok);
          next();
        });
      },
    );
    const d = await client(server, 'flooder');
    const closed = new Promise<string>((resolve) => d.on('close', (info) => resolve(info.code)));
    d.send(2, 1, Buffer.from('a'));
    d.send(2, 1, Buffer.from('b'));
    expect(await closed).toBe('TIDEWIRE_ERR_RATE_LIMITED');
  });

  it('reports duplicates', async () => {
    server = await testServer({}, (s) => s.handleCommand(3, 1, (_v, _c, _p, _u, next) => next()));
    expect(server.isCommandDuplicate(3, 1)).toBe(true);
    expect(server.isCommandDuplicate(3, 2)).toBe(false);
  });

  it('a stalled handler blocks only its own user', async () => {
    let release: (() => void) | undefined;
    server = await testServer({}, (s) => {
      s.handleCommand(2, 20, (_v, _c, _p, _u, next) => {
        release = next; // never called until the test says so
      });
      s.handleCommand(2, 21, (ver, cmd, payload, user, next) => {
        user.send(ver, cmd, payload, Ok);
        next();
      });
    });
    const slow = await client(server, 'slow');
    const fast = await client(server, 'fast');
    slow.send(2, 20);
    const slowEcho = slow.request(2, 21, Buffer.from('later'));
    let slowDone = false;
    void slowEcho.then(() => {
      slowDone = true;
    });
    for (let i = 0; i < 20; i++) {
      const res = await fast.request(2, 21, Buffer.from(`n${i}`));
      expect(res.payload.toString()).toBe(`n${i}`);
    }
    expect(slowDone).toBe(false);
    release!();
    expect((await slowEcho).payload.toString()).toBe('later');
    await Promise.all([slow.close(), fast.close()]);
  });

  it('disconnects a user whose handler never calls next, after the stall timeout', async () => {
    const reasons: string[] = [];
    server = await testServer(
      { config: { commands: { stallWarningMs: 50, stallTimeoutMs: 300 } } },
      (s) => {
        s.handleCommand(2, 30, () => {});
        s.onDisconnect((reason) => reasons.push(reason));
      },
    );
    const c = await client(server, 'stuck');
    const closed = new Promise((resolve) => c.once('close', resolve));
    c.send(2, 30);
    expect(await closed).toMatchObject({ code: 'TIDEWIRE_ERR_USER_STALLED', remote: true });
    expect(reasons).toEqual(['TIDEWIRE_ERR_USER_STALLED']);
  });

  it('delivers pushes and broadcasts; user data and keep-alive latency are kept', async () => {
    server = await testServer({}, (s) => {
      s.handleCommand(2, 40, (ver, cmd, payload, user, next) => {
        user.data.score = 42;
        s.broadcast(ver, 41, payload);
        user.send(ver, cmd, Buffer.alloc(0), Ok);
        next();
      });
    });
    const a = await client(server, 'a');
    const b = await client(server, 'b');
    const pushed = new Promise<{ ver: number; cmd: number; payload: Buffer }>((resolve) =>
      b.once('push', resolve),
    );
    await a.request(2, 40, Buffer.from('hello all'));
    const push = await pushed;
    expect([push.ver, push.cmd, push.payload.toString()]).toEqual([2, 41, 'hello all']);
    const ka = await a.keepAlive();
    expect(ka.state).toBe('ONLINE');
    expect(Math.abs(ka.serverTime - Date.now())).toBeLessThan(5000);
    await a.keepAlive(); // carries the rtt measured by the first one
    expect(server.getUser('a')?.data).toEqual({ score: 42 });
    await Promise.all([a.close(), b.close()]);
  });

  it('onKeepAlive handlers run before the keep-alive is answered', async () => {
    const seen: string[] = [];
    server = await testServer({}, (s) =>
      s.onKeepAlive((user, next) => {
        seen.push(user.id);
        next();
      }),
    );
    const c = await client(server, 'kal');
    await c.keepAlive();
    expect(seen).toEqual(['kal']);
    await c.close();
  });

  it('a periodic keep-alive rides with the next command (one read on the server), or goes alone', async () => {
    // Which socket read delivered each frame: the transport publishes one `in` message per read.
    let reads = 0;
    const onBytes = (message: unknown): void => {
      if ((message as { direction: string }).direction === 'in') reads++;
    };
    channel('tidewire:tcp:bytes').subscribe(onBytes);
    try {
      const keepAliveReads: number[] = [];
      const commandReads: number[] = [];
      server = await testServer({}, (s) => {
        s.onKeepAlive((_user, next) => {
          keepAliveReads.push(reads);
          next();
        });
        s.handleCommand(2, 50, (ver, cmd, _payload, user, next) => {
          commandReads.push(reads);
          user.send(ver, cmd, Buffer.alloc(0), Ok);
          next();
        });
      });
      // Interval 200 ms: a keep-alive waits up to 50 ms for a command.
      const c = await client(server, 'rider', { keepAliveIntervalMs: 200 });
      const sending = setInterval(() => c.send(2, 50), 10);
      await delay(700);
      clearInterval(sending);
      expect(keepAliveReads.length).toBeGreaterThanOrEqual(2);
      // every keep-alive arrived in the same read as a command
      for (const read of keepAliveReads) expect(commandReads).toContain(read);
      expect(c.latency).toBeGreaterThan(0);
      // With no command to ride with, keep-alives still go (alone, 50 ms late at most).
      const before = keepAliveReads.length;
      await delay(500);
      expect(keepAliveReads.length).toBeGreaterThanOrEqual(before + 2);
      await c.close();
    } finally {
      channel('tidewire:tcp:bytes').unsubscribe(onBytes);
    }
  });

  it('the deprecated command() alias registers a (user, next) handler', async () => {
    server = await testServer({}, (s) =>
      s.command(5, 5, (user, next) => {
        user.send(5, 5, pack({ id: user.id }), Bad);
        next();
      }),
    );
    const c = await client(server, 'old');
    const res = await c.request(5, 5);
    expect(res.status).toBe(Status.Bad);
    expect(unpack(res.payload)).toEqual({ id: 'old' });
    await c.close();
  });
});
