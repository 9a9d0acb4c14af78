import { setTimeout as sleep } from 'node:timers/promises';
import { isTidewireError, type Logger, Status, unpack } from '@tidewire/wire';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommandError, CommandRouter, type Next, RouterErrorCode } from '../src/index.ts';

class TestUser {
  responsesSent = 0;
  readonly responses: { ver: number; cmd: number; status: number; body: unknown }[] = [];
  constructor(readonly id: string) {}
  sendResponse(ver: number, cmd: number, status: number, payload: Uint8Array): void {
    this.responsesSent++;
    this.responses.push({ ver, cmd, status, body: unpack(payload) });
  }
}

const payload = (text = ''): Buffer => Buffer.from(text);

function spyLogger(): Logger & { warnings: string[]; errors: string[] } {
  const warnings: string[] = [];
  const errors: string[] = [];
  return {
    warnings,
    errors,
    warn: (message) => warnings.push(message),
    error: (message) => errors.push(message),
  };
}

let router: CommandRouter<TestUser>;
afterEach(() => router?.close());

describe('chains', () => {
  it('runs handlers of one command in registration order and then the next command', () => {
    router = new CommandRouter();
    const order: string[] = [];
    router.handleCommand(2, 1, (_v, _c, p, _u, next) => {
      order.push(`a:${p.toString()}`);
      next();
    });
    router.handleCommand(2, 1, (_v, _c, p, _u, next) => {
      order.push(`b:${p.toString()}`);
      next();
    });
    const user = new TestUser('u1');
    router.dispatch(user, 2, 1, payload('x'));
    router.dispatch(user, 2, 1, payload('y'));
    expect(order).toEqual(['a:x', 'b:x', 'a:y', 'b:y']);
    expect(user.responses).toEqual([]);
    expect(router.queued(user)).toBe(0);
  });

  it('passes ver, cmd, payload and user to every handler', () => {
    router = new CommandRouter();
    const seen: unknown[] = [];
    router.handleCommand(7, 300, (ver, cmd, p, user, next) => {
      seen.push([ver, cmd, p.toString(), user.id]);
      next();
    });
    router.dispatch(new TestUser('u9'), 7, 300, payload('hi'));
    expect(seen).toEqual([[7, 300, 'hi', 'u9']]);
  });

  it('next(err) stops the chain and sends one Err with the error code and message', () => {
    const logger = spyLogger();
    router = new CommandRouter({ logger });
    const ran: string[] = [];
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => {
      ran.push('first');
      next(new CommandError('GAME_ERR_NO_GOLD', 'not enough gold'));
    });
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => {
      ran.push('second');
      next();
    });
    const user = new TestUser('u1');
    router.dispatch(user, 2, 1, payload());
    expect(ran).toEqual(['first']);
    expect(user.responses).toEqual([
      {
        ver: 2,
        cmd: 1,
        status: Status.Err,
        body: { code: 'GAME_ERR_NO_GOLD', message: 'not enough gold' },
      },
    ]);
    expect(logger.warnings).toEqual(['command chain failed']);
  });

  it('a CommandError with status Bad is answered with Bad', () => {
    router = new CommandRouter();
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) =>
      next(new CommandError('GAME_ERR_INPUT', 'bad input', Status.Bad)),
    );
    const user = new TestUser('u1');
    router.dispatch(user, 2, 1, payload());
    expect(user.responses[0]).toMatchObject({
      status: Status.Bad,
      body: { code: 'GAME_ERR_INPUT' },
    });
  });

  it('does not answer a failed chain that already responded', () => {
    router = new CommandRouter();
    router.handleCommand(2, 1, (ver, cmd, _p, user, next) => {
      user.sendResponse(ver, cmd, Status.Bad, new Uint8Array([0xc0]));
      next(new Error('after answering'));
    });
    const user = new TestUser('u1');
    router.dispatch(user, 2, 1, payload());
    expect(user.responses).toHaveLength(1);
    expect(user.responses[0]!.status).toBe(Status.Bad);
  });

  it('hides the message of uncoded errors from the client and logs it', () => {
    const fields: unknown[] = [];
    router = new CommandRouter({ logger: { warn: (_m, f) => fields.push(f) } });
    router.handleCommand(2, 1, () => {
      throw new TypeError('secret internals');
    });
    const user = new TestUser('u1');
    router.dispatch(user, 2, 1, payload());
    expect(user.responses[0]).toEqual({
      ver: 2,
      cmd: 1,
      status: Status.Err,
      body: { code: RouterErrorCode.HandlerFailed, message: 'command handler failed' },
    });
    expect(JSON.stringify(fields)).toContain('secret internals');
  });

  it('treats a rejected promise as next(err) and a resolved one without next as next()', async () => {
    router = new CommandRouter();
    const order: string[] = [];
    router.handleCommand(2, 1, async () => {
      await sleep(2);
      order.push('async-1');
    });
    router.handleCommand(2, 1, async (_v, _c, _p, _u, next) => {
      order.push('async-2');
      next();
    });
    router.handleCommand(2, 2, async () => {
      await sleep(1);
      throw new CommandError('GAME_ERR_X', 'x failed');
    });
    const user = new TestUser('u1');
    router.dispatch(user, 2, 1, payload());
    router.dispatch(user, 2, 2, payload());
    await vi.waitFor(() => expect(user.responses).toHaveLength(1));
    expect(order).toEqual(['async-1', 'async-2']);
    expect(user.responses[0]).toMatchObject({
      cmd: 2,
      status: Status.Err,
      body: { code: 'GAME_ERR_X' },
    });
  });

  it('ignores a second next() with a warning', () => {
    const logger = spyLogger();
    router = new CommandRouter({ logger });
    let runs = 0;
    let saved: Next | null = null;
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => {
      saved = next;
      next();
    });
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => {
      runs++;
      saved?.();
      next();
    });
    router.dispatch(new TestUser('u1'), 2, 1, payload());
    expect(runs).toBe(1);
    expect(logger.warnings).toEqual(['next() called more than once: ignored']);
  });

  it('answers an unknown command with Bad after the hooks ran', () => {
    router = new CommandRouter();
    const hooked: number[] = [];
    router.hookAllCommands((_u, next, command) => {
      hooked.push(command.cmd);
      next();
    });
    const user = new TestUser('u1');
    router.dispatch(user, 9, 42, payload());
    expect(hooked).toEqual([42]);
    expect(user.responses).toEqual([
      {
        ver: 9,
        cmd: 42,
        status: Status.Bad,
        body: { code: RouterErrorCode.UnknownCommand, message: 'no handler for command (9, 42)' },
      },
    ]);
  });
});

describe('hooks', () => {
  it('run in order before every chain and can stop it', () => {
    router = new CommandRouter();
    const order: string[] = [];
    router.hookAllCommands((_u, next, { cmd }) => {
      order.push(`hook1:${cmd}`);
      next();
    });
    router.hookAllCommands((_u, next, { cmd, payload: p }) => {
      order.push(`hook2:${cmd}`);
      next(
        p.toString() === 'deny'
          ? new CommandError('GAME_ERR_DENIED', 'denied', Status.Bad)
          : undefined,
      );
    });
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => {
      order.push('handler');
      next();
    });
    const user = new TestUser('u1');
    router.dispatch(user, 2, 1, payload('ok'));
    router.dispatch(user, 2, 1, payload('deny'));
    expect(order).toEqual(['hook1:1', 'hook2:1', 'handler', 'hook1:1', 'hook2:1']);
    expect(user.responses).toEqual([
      { ver: 2, cmd: 1, status: Status.Bad, body: { code: 'GAME_ERR_DENIED', message: 'denied' } },
    ]);
  });

  it('do not run before keep-alives', () => {
    const done: string[] = [];
    router = new CommandRouter({ onKeepAliveDone: (user) => done.push(user.id) });
    let hooks = 0;
    router.hookAllCommands((_u, next) => {
      hooks++;
      next();
    });
    router.onKeepAlive((_u, next) => next());
    router.dispatchKeepAlive(new TestUser('u1'));
    expect(hooks).toBe(0);
    expect(done).toEqual(['u1']);
  });
});

describe('registration', () => {
  it('refuses ver 0 and 1 to applications with a typed error', () => {
    router = new CommandRouter();
    const noop = (): void => {};
    for (const ver of [0, 1]) {
      expect(() => router.handleCommand(ver, 5, noop)).toThrow(
        expect.objectContaining({ code: RouterErrorCode.ReservedCommand }),
      );
    }
    router.handleReservedCommand(0, 900, noop);
    expect(router.hasHandler(0, 900)).toBe(true);
    expect(() => router.handleReservedCommand(2, 1, noop)).toThrow(
      expect.objectContaining({ code: RouterErrorCode.InvalidArgument }),
    );
  });

  it('validates ver, cmd and handler', () => {
    router = new CommandRouter();
    const bad: [number, number, unknown][] = [
      [256, 1, () => {}],
      [-1, 1, () => {}],
      [2.5, 1, () => {}],
      [2, 65536, () => {}],
      [2, Number.NaN, () => {}],
      [2, 1, 'nope'],
    ];
    for (const [ver, cmd, handler] of bad) {
      let error: unknown;
      try {
        router.handleCommand(ver, cmd, handler as never);
      } catch (err) {
        error = err;
      }
      expect(isTidewireError(error, RouterErrorCode.InvalidArgument)).toBe(true);
    }
    expect(() => router.hookAllCommands(null as never)).toThrow(/hook must be a function/);
    expect(() => new CommandRouter({ stallTimeoutMs: 0 })).toThrow(/stallTimeoutMs/);
    expect(() => new CommandRouter({ maxQueuedCommands: 1.5 })).toThrow(/maxQueuedCommands/);
  });

  it('isCommandDuplicate tells whether (ver, cmd) is taken', () => {
    router = new CommandRouter();
    expect(router.isCommandDuplicate(2, 1)).toBe(false);
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => next());
    expect(router.isCommandDuplicate(2, 1)).toBe(true);
    expect(router.isCommandDuplicate(2, 2)).toBe(false);
    expect(router.isCommandDuplicate(3, 1)).toBe(false);
  });

  it('command() (deprecated) registers a (user, next) handler and warns once', async () => {
    router = new CommandRouter();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const seen: string[] = [];
      router.command(2, 7, (user, next) => {
        seen.push(user.id);
        next();
      });
      router.command(2, 8, (_user, next) => next());
      router.dispatch(new TestUser('u1'), 2, 7, payload());
      expect(seen).toEqual(['u1']);
      await sleep(1);
      const ours = warnings.filter((w) => (w as { code?: string }).code === 'TIDEWIRE_DEP_COMMAND');
      expect(ours).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
