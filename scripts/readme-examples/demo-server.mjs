// The demo server the README examples marked `<!-- needs-server -->` run
// against: the reference server's demo commands on free loopback ports, built
// on `@tidewire/server` alone so that it also runs from the installed tarball.
// Prints one JSON line `{"endpointUrl":"http://127.0.0.1:PORT"}` once it
// accepts sessions; SIGTERM (or SIGINT) drains it and exits 0.
import { Bad, createServer, Ok } from '@tidewire/server';

const server = createServer({
  config: { http: { port: 0 }, tcp: { port: 0 }, udp: { port: 0 } },
  env: {},
});
await server.setupAsTCPServer();
await server.setupAsUDPServer();
await server.setupAsWSServer(); // on the HTTP port, path /v1/ws

server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
  user.send(ver, cmd, payload, Ok); // echo
  next();
});
server.handleCommand(2, 2, (ver, cmd, payload, user, next) => {
  server.broadcast(ver, cmd, payload); // a push to every user of this node
  user.send(ver, cmd, Buffer.alloc(0), Ok);
  next();
});
server.handleCommand(2, 3, (ver, cmd, payload, user, next) => {
  if (payload.length === 0) user.send(ver, cmd, Buffer.from('payload must not be empty'), Bad);
  else user.send(ver, cmd, payload, Ok);
  next();
});

await server.start();
process.stdout.write(`${JSON.stringify({ endpointUrl: `http://127.0.0.1:${server.httpPort}` })}\n`);

let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  server.close().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
