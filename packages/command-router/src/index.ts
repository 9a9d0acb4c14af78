export { CommandError, type ErrorResponse, errorResponse } from './command-error.ts';
export { RouterErrorCode } from './errors.ts';
export { CommandRouter, type RouterLane } from './router.ts';
export type {
  CommandHandler,
  CommandHook,
  CommandInfo,
  CommandRouterOptions,
  KeepAliveHandler,
  LegacyCommandHandler,
  Next,
  RateLimitAction,
  RouterLimits,
  RouterUser,
  StallInfo,
} from './types.ts';
