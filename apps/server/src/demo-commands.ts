import { Bad, Ok, type TidewireServer } from '@tidewire/server';

/** The demo application: ver 2 commands an integrator can try at once. */
export const DemoCommand = {
  /** Answers the payload back with Ok. */
  Echo: 1,
  /** Pushes the payload to every connected user (ver 2, cmd 2, status Push), then answers Ok. */
  Broadcast: 2,
  /** Answers Bad when the payload is empty, Ok otherwise. */
  Validate: 3,
} as const;

export const DEMO_VER = 2;

export function registerDemoCommands(server: TidewireServer): void {
  server.handleCommand(DEMO_VER, DemoCommand.Echo, (ver, cmd, payload, user, next) => {
    user.send(ver, cmd, payload, Ok);
    next();
  });
  server.handleCommand(DEMO_VER, DemoCommand.Broadcast, (ver, cmd, payload, user, next) => {
    server.broadcast(ver, cmd, payload);
    user.send(ver, cmd, Buffer.alloc(0), Ok);
    next();
  });
  server.handleCommand(DEMO_VER, DemoCommand.Validate, (ver, cmd, payload, user, next) => {
    if (payload.length === 0) user.send(ver, cmd, Buffer.from('payload must not be empty'), Bad);
    else user.send(ver, cmd, payload, Ok);
    next();
  });
}
