/**
 * The command router as the server configures it: limits from config
 * `commands`, and what happens to a user who stalls, floods or overflows.
 */
import { CommandRouter, type CommandRouterOptions } from '@tidewire/command-router';
import { CORE_VER, CoreCommand, type Logger, pack } from '@tidewire/wire';
import type { CommandsConfig } from './config.ts';
import { ServerErrorCode } from './errors.ts';
import type { ServerState } from './state.ts';
import type { User } from './user.ts';

/** The router's limits from config `commands`. */
export function routerLimits(
  commands: CommandsConfig,
): Pick<
  CommandRouterOptions<User>,
  'stallWarningMs' | 'stallTimeoutMs' | 'maxQueuedCommands' | 'rateLimit'
> {
  return {
    stallWarningMs: commands.stallWarningMs,
    stallTimeoutMs: commands.stallTimeoutMs,
    maxQueuedCommands: commands.maxQueuedCommands,
    ...(commands.rateLimit > 0
      ? {
          rateLimit: {
            commandsPerSecond: commands.rateLimit,
            ...(commands.rateLimitBurst > 0 ? { burst: commands.rateLimitBurst } : {}),
            action: commands.rateLimitAction,
          },
        }
      : {}),
  };
}

/** Creates the server's router; `commands()` and `state()` are read when a user is acted on. */
export function createCommandRouter(
  commands: () => CommandsConfig,
  state: () => ServerState,
  logger: Logger,
): CommandRouter<User> {
  return new CommandRouter<User>({
    ...routerLimits(commands()),
    onRateLimited: (user, info) => {
      void user.disconnect(
        ServerErrorCode.RateLimited,
        `command (${info.ver}, ${info.cmd}) over the rate limit of ${commands().rateLimit}/s`,
      );
    },
    logger,
    onUserStalled: (user, info) => {
      void user.disconnect(
        ServerErrorCode.UserStalled,
        `command (${info.ver}, ${info.cmd}) did not finish within ${info.elapsedMs} ms`,
      );
    },
    onQueueOverflow: (user, queued) => {
      void user.disconnect(ServerErrorCode.QueueOverflow, `${queued} commands queued`);
    },
    onKeepAliveDone: (user) => {
      user.send(CORE_VER, CoreCommand.KeepAlive, pack({ serverTime: Date.now(), state: state() }));
    },
  });
}
