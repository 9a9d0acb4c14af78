/**
 * What an admitted user's frames do, for every transport: sealed frames are
 * opened, the core commands answered here (keep-alive through the user's
 * command order, ping at once, a second hello refused), and every other
 * request goes to the user's command lane.
 */
import type { RouterLane } from '@tidewire/command-router';
import {
  CORE_VER,
  CoreCommand,
  type Frame,
  type Logger,
  openFrame,
  pack,
  Status,
  unpack,
  WireErrorCode,
} from '@tidewire/wire';
import { ServerErrorCode } from './errors.ts';
import type { Seats } from './seats.ts';
import type { User } from './user.ts';
import type { UserConnection } from './user-connection.ts';

/** The `onFrame` of every admitted connection; `connection.data` is the user's lane. */
export function userFrameHandler(
  logger: Logger,
  seats: () => Seats,
): (frame: Frame, connection: UserConnection, reliable: boolean) => void {
  return (frame, connection, reliable) => {
    onUserFrame(connection.data as RouterLane<User>, frame, logger, seats(), reliable);
  };
}

function onUserFrame(
  lane: RouterLane<User>,
  received: Frame,
  logger: Logger,
  seats: Seats,
  reliable: boolean,
): void {
  const user = lane.user;
  let frame = received;
  if (user.cipher !== null) {
    try {
      frame = openFrame(user.cipher, received);
    } catch {
      logger.warn?.('tcp: a frame failed authentication; closing', { userId: user.id });
      void user.disconnect(WireErrorCode.DecryptFailed, 'frame failed authentication');
      return;
    }
  }
  // Resume: acks are consumed there, numbered frames counted (protocol section 13).
  if (seats.frameIn(user, frame, reliable)) return;
  if (frame.status !== Status.Request) return; // clients send requests only
  if (frame.ver === CORE_VER) {
    switch (frame.cmd) {
      case CoreCommand.KeepAlive:
        if (frame.payload.length > 0) {
          try {
            const body = unpack<{ rtt?: unknown }>(frame.payload);
            if (typeof body?.rtt === 'number') user.setLatency(body.rtt);
          } catch {
            // a malformed keep-alive body only loses the latency sample
          }
        }
        lane.dispatchKeepAlive();
        return;
      case CoreCommand.Ping:
        user.send(CORE_VER, CoreCommand.Ping, frame.payload, Status.Ok);
        return;
      case CoreCommand.Hello:
        user.send(
          CORE_VER,
          CoreCommand.Hello,
          pack({ code: ServerErrorCode.InvalidState, message: 'already connected' }),
          Status.Bad,
        );
        return;
      default:
        break;
    }
  }
  lane.dispatch(frame.ver, frame.cmd, frame.payload);
}
