import { Bad, CommandError, Ok, type TidewireServer } from '@tidewire/server';
import { pack, unpack } from '@tidewire/wire';

/** The demo application: ver 2 commands an integrator can try at once. */
export const DemoCommand = {
  /** Answers the payload back with Ok. */
  Echo: 1,
  /**
   * Pushes the payload to every connected user on every node of the cluster
   * (ver 2, cmd 2, status Push), then answers Ok, or Bad with `{ code, message }`
   * when the mesh could not carry it.
   */
  Broadcast: 2,
  /** Answers Bad when the payload is empty, Ok otherwise. */
  Validate: 3,
  /**
   * Direct message: payload msgpack `{ to, text }`; pushes (ver 2, cmd 5)
   * msgpack `{ from, text }` to user `to` wherever they are in the cluster,
   * then answers Ok, or Bad with `{ code, message }` when `to` is not connected.
   */
  DirectMessage: 4,
  /** The push a direct message arrives as. */
  DirectMessagePush: 5,
} as const;

export const DEMO_VER = 2;

/** The mesh topic a demo broadcast travels on, to every node. */
export const DEMO_BROADCAST_TOPIC = 'demo:broadcast';

export function registerDemoCommands(server: TidewireServer): void {
  // A broadcast goes over the mesh, which reaches every node, this one
  // included; each node pushes it to its own users.
  server.mesh.onMessage((message) => {
    if (message.topic === DEMO_BROADCAST_TOPIC)
      server.broadcast(DEMO_VER, DemoCommand.Broadcast, message.payload);
  });
  server.handleCommand(DEMO_VER, DemoCommand.Echo, (ver, cmd, payload, user, next) => {
    user.send(ver, cmd, payload, Ok);
    next();
  });
  server.handleCommand(DEMO_VER, DemoCommand.Broadcast, async (ver, cmd, payload, user) => {
    try {
      await server.mesh.broadcast(DEMO_BROADCAST_TOPIC, payload);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new CommandError(
        typeof code === 'string' ? code : 'DEMO_ERR_NOT_DELIVERED',
        (err as Error).message,
        Bad,
      );
    }
    user.send(ver, cmd, Buffer.alloc(0), Ok);
  });
  server.handleCommand(DEMO_VER, DemoCommand.Validate, (ver, cmd, payload, user, next) => {
    if (payload.length === 0) user.send(ver, cmd, Buffer.from('payload must not be empty'), Bad);
    else user.send(ver, cmd, payload, Ok);
    next();
  });
  server.handleCommand(DEMO_VER, DemoCommand.DirectMessage, async (ver, cmd, payload, user) => {
    let body: { to?: unknown; text?: unknown } | undefined;
    try {
      body = unpack(payload);
    } catch {
      body = undefined;
    }
    if (typeof body?.to !== 'string' || typeof body.text !== 'string') {
      throw new CommandError('DEMO_ERR_BAD_MESSAGE', 'payload must be msgpack { to, text }', Bad);
    }
    try {
      await server.sendToUser(
        body.to,
        DEMO_VER,
        DemoCommand.DirectMessagePush,
        pack({ from: user.id, text: body.text }),
      );
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new CommandError(
        typeof code === 'string' ? code : 'DEMO_ERR_NOT_DELIVERED',
        (err as Error).message,
        Bad,
      );
    }
    user.send(ver, cmd, Buffer.alloc(0), Ok);
  });
}
