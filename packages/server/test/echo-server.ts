import { createServer, Ok, type ServerConfigInput, type TidewireServer } from '../src/index.ts';

/**
 * A started server with TCP and UDP on free loopback ports, WS on the HTTP
 * port, and the echo command (2, 1) answering its payload with Ok: what the
 * fuzz and churn harnesses and their tests run against.
 */
export async function startEchoServer(config: ServerConfigInput = {}): Promise<TidewireServer> {
  const server = createServer({
    config: {
      ...config,
      http: { port: 0, ...config.http },
      tcp: { port: 0, ...config.tcp },
      udp: { port: 0, ...config.udp },
    },
    env: {},
  });
  await server.setupAsTCPServer();
  await server.setupAsUDPServer();
  await server.setupAsWSServer();
  server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
    user.send(ver, cmd, payload, Ok);
    next();
  });
  await server.start();
  return server;
}
