import type { ProjectTransport } from './options.ts';

/** What the files of a project depend on. */
export interface ProjectSpec {
  readonly name: string;
  readonly transport: ProjectTransport;
  readonly redis: boolean;
  /** package.json `dependencies`: the @tidewire packages, registry ranges or `file:` tarballs. */
  readonly dependencies: Readonly<Record<string, string>>;
}

/** The tools of a generated project (registry ranges). */
export const DEV_DEPENDENCIES: Readonly<Record<string, string>> = {
  '@types/node': '^20.19.0',
  tsx: '^4.20.0',
  typescript: '^5.9.0',
};

/** The bundler of a WebSocket project's page (its `prestart`). */
export const PAGE_DEV_DEPENDENCIES: Readonly<Record<string, string>> = {
  esbuild: '^0.28.0',
};

/** The game port of TCP and UDP projects; a WebSocket project plays on its HTTP port. */
const DEFAULT_GAME_PORT = { tcp: 7200, udp: 7100 } as const;
/** The HTTP port of a new project (sessions; over WebSocket also the page and the game). */
export const HTTP_PORT = 7000;

/** Every file of a new project, by path relative to its folder. */
export function projectFiles(spec: ProjectSpec): Map<string, string> {
  const files = new Map<string, string>([
    ['package.json', packageJson(spec)],
    ['tsconfig.json', tsconfig(spec)],
    ['.gitignore', spec.transport === 'ws' ? 'node_modules/\ndist/\n' : 'node_modules/\n'],
    ['README.md', readme(spec)],
    ['src/commands.ts', COMMANDS],
    ['src/config.ts', config(spec)],
    ['src/game.ts', game(spec)],
    ['src/server.ts', server(spec)],
    ['test/game.test.ts', gameTest(spec)],
  ]);
  if (spec.transport === 'ws') {
    files.set('src/page.ts', PAGE_ROUTES);
    files.set('web/index.html', indexHtml(spec));
    files.set('web/main.ts', PAGE_SCRIPT);
  } else {
    files.set('src/client.ts', client(spec.transport));
  }
  if (spec.redis) {
    files.set('cluster.json', clusterJson(spec));
    files.set('compose.yaml', compose(spec));
  }
  return files;
}

function packageJson(spec: ProjectSpec): string {
  const manifest = {
    name: spec.name,
    version: '0.1.0',
    private: true,
    type: 'module',
    engines: { node: '>=20.19' },
    scripts:
      spec.transport === 'ws'
        ? {
            prestart: 'esbuild web/main.ts --bundle --format=esm --minify --outfile=dist/main.js',
            start: 'tsx src/server.ts',
            test: 'tsx --test test/game.test.ts',
            typecheck: 'tsc',
          }
        : {
            start: 'tsx src/server.ts',
            client: 'tsx src/client.ts',
            test: 'tsx --test test/game.test.ts',
            typecheck: 'tsc',
          },
    dependencies: spec.dependencies,
    devDependencies:
      spec.transport === 'ws'
        ? { ...DEV_DEPENDENCIES, ...PAGE_DEV_DEPENDENCIES }
        : DEV_DEPENDENCIES,
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

function tsconfig(spec: ProjectSpec): string {
  return `${JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2023',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        strict: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        allowImportingTsExtensions: true,
        noEmit: true,
        skipLibCheck: true,
      },
      include: spec.transport === 'ws' ? ['src', 'test', 'web'] : ['src', 'test'],
    },
    null,
    2,
  )}\n`;
}

/** src/commands.ts: the game's command numbers (rooms have theirs in @tidewire/room/protocol). */
const COMMANDS = `/** The game's commands. ver 2 is the first version free for applications. */
export const GAME_VER = 2;

export const GameCommand = {
  /** Answers msgpack { greeting }. */
  Hello: 1,
  /** Rolls a die: answers msgpack { roll } in 1..6. */
  Roll: 2,
  /** Adds msgpack { points } (an integer 1..100) to the caller's score; answers { score }. */
  Score: 3,
} as const;
`;

function config(spec: ProjectSpec): string {
  const ports =
    spec.transport === 'ws'
      ? `HTTP_PORT (default ${HTTP_PORT}: the page, sessions and WebSocket on one
 * port) on top.`
      : `HTTP_PORT (session endpoint, default ${HTTP_PORT}) and GAME_PORT (${spec.transport.toUpperCase()}, default
 * ${DEFAULT_GAME_PORT[spec.transport]}) on top.`;
  const game =
    spec.transport === 'ws'
      ? ''
      : `
    ${spec.transport}: { ...file.${spec.transport}, port: port(env.GAME_PORT, file.${spec.transport}?.port ?? ${DEFAULT_GAME_PORT[spec.transport]}) },`;
  return `import { readFileSync } from 'node:fs';
import type { ServerConfigInput } from '@tidewire/server';

/**
 * The server's config: the JSON file named by TIDEWIRE_CONFIG (if any), then
 * ${ports} TIDEWIRE_MESH_URL (redis://...) puts the node in a cluster.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfigInput {
  const file: ServerConfigInput =
    env.TIDEWIRE_CONFIG === undefined || env.TIDEWIRE_CONFIG === ''
      ? {}
      : JSON.parse(readFileSync(env.TIDEWIRE_CONFIG, 'utf8'));
  return {
    ...file,
    http: { ...file.http, port: port(env.HTTP_PORT, file.http?.port ?? ${HTTP_PORT}) },${game}
  };
}

function port(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(\`not a port: "\${value}"\`);
  return n;
}
`;
}

const SETUP: Record<ProjectTransport, string> = {
  ws: 'setupAsWSServer',
  tcp: 'setupAsTCPServer',
  udp: 'setupAsUDPServer',
};

function game(spec: ProjectSpec): string {
  const ws = spec.transport === 'ws';
  return `import { installRooms, type RoomService } from '@tidewire/room';
import { Bad, Ok, createServer, type ServerConfigInput, type TidewireServer } from '@tidewire/server';
import { pack, unpack } from '@tidewire/wire';
import { GAME_VER, GameCommand } from './commands.ts';
${ws ? "import { servePage } from './page.ts';\n" : ''}
export interface Game {
  readonly server: TidewireServer;
  readonly rooms: RoomService;
  /** Where clients ask for a session. */
  readonly endpointUrl: string;
  close(): Promise<void>;
}

/** Starts the game server: its commands, rooms (the built-in ver 1 module), the session endpoint${ws ? ' and the page' : ''}. */
export async function startGame(config: ServerConfigInput): Promise<Game> {
${
  ws
    ? `  // One HTTP port for all: the page (servePage), sessions, and WebSocket upgrades.
  const server = createServer({ config, httpRoutes: servePage });`
    : '  const server = createServer({ config });'
}
  await server.${SETUP[spec.transport]}();
  const rooms = installRooms(server, {
    beforeJoin: (room) => (room.members.length >= 8 ? 'the room is full' : undefined),
  });

  const scores = new Map<string, number>();
  server.handleCommand(GAME_VER, GameCommand.Hello, (ver, cmd, _payload, user, next) => {
    user.send(ver, cmd, pack({ greeting: \`hello \${user.id}\` }), Ok);
    next();
  });
  server.handleCommand(GAME_VER, GameCommand.Roll, (ver, cmd, _payload, user, next) => {
    user.send(ver, cmd, pack({ roll: 1 + Math.floor(Math.random() * 6) }), Ok);
    next();
  });
  server.handleCommand(GAME_VER, GameCommand.Score, (ver, cmd, payload, user, next) => {
    const points = readPoints(payload);
    if (points === null) {
      user.send(ver, cmd, pack({ code: 'GAME_ERR_BAD_POINTS', message: 'points: an integer 1..100' }), Bad);
    } else {
      const score = (scores.get(user.id) ?? 0) + points;
      scores.set(user.id, score);
      user.send(ver, cmd, pack({ score }), Ok);
    }
    next();
  });
  server.onDisconnect((_reason, user) => scores.delete(user.id));

  await server.start();
  const host = config.http?.address ?? '127.0.0.1';
  return {
    server,
    rooms,
    endpointUrl: \`http://\${host === '0.0.0.0' ? '127.0.0.1' : host}:\${server.httpPort}\`,
    close: () => server.close(),
  };
}

function readPoints(payload: Uint8Array): number | null {
  try {
    const { points } = unpack(payload) as { points?: unknown };
    return Number.isInteger(points) && (points as number) >= 1 && (points as number) <= 100
      ? (points as number)
      : null;
  } catch {
    return null;
  }
}
`;
}

function server(spec: ProjectSpec): string {
  const ready =
    spec.transport === 'ws'
      ? `the page at \${game.endpointUrl}/ (sessions and WebSocket on its port; Ctrl-C stops)`
      : `sessions at \${game.endpointUrl}, players on \${game.server.getEndPoint()} (Ctrl-C stops)`;
  return `import { loadConfig } from './config.ts';
import { startGame } from './game.ts';

const game = await startGame(loadConfig());
console.log(\`${ready}\`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping: players are told to leave, then the server closes');
    game.close().then(
      () => {
        console.log('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
`;
}

function client(transport: 'tcp' | 'udp'): string {
  return `import { connect } from '@tidewire/client';
import { RoomCommand } from '@tidewire/room';
import { pack, unpack } from '@tidewire/wire';
import { GAME_VER, GameCommand } from './commands.ts';

// npm run client [player-id]: one round trip of every game command, then a room.
const endpointUrl = process.env.TIDEWIRE_ENDPOINT_URL ?? 'http://127.0.0.1:7000';
const uid = process.argv[2] ?? \`player-\${process.pid}\`;

const client = await connect({ endpointUrl, uid, transport: '${transport}' });
async function call(ver: number, cmd: number, body: unknown): Promise<Record<string, unknown>> {
  const response = await client.request(ver, cmd, pack(body));
  const answer = unpack(response.payload) as Record<string, unknown>;
  if (!response.ok) throw new Error(\`(\${ver}, \${cmd}) answered \${response.status}: \${JSON.stringify(answer)}\`);
  return answer;
}

try {
  console.log((await call(GAME_VER, GameCommand.Hello, {})).greeting);
  console.log('rolled', (await call(GAME_VER, GameCommand.Roll, {})).roll);
  console.log('score', (await call(GAME_VER, GameCommand.Score, { points: 10 })).score);
  const { roomId } = await call(1, RoomCommand.Create, { maxMembers: 8 });
  console.log('opened room', roomId);
} finally {
  await client.close();
}
`;
}

function gameTest(spec: ProjectSpec): string {
  const ws = spec.transport === 'ws';
  const page = ws
    ? `
test('the server serves the page at /', async () => {
  const response = await fetch(\`\${game.endpointUrl}/\`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\\/html/);
  assert.match(await response.text(), /<script type="module" src="\\/main.js">/);
});
`
    : '';
  return `import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from '@tidewire/client';
import { RoomCommand } from '@tidewire/room';
import { Status, pack, unpack } from '@tidewire/wire';
import { GAME_VER, GameCommand } from '../src/commands.ts';
import { type Game, startGame } from '../src/game.ts';

let game: Game;
before(async () => {
  // Port 0: free ports, so the test runs beside a running \`npm start\`.
  game = await startGame({ http: { port: 0 }${ws ? '' : `, ${spec.transport}: { port: 0 }`} });
});
after(() => game.close());

test('a player says hello, scores, and opens a room${ws ? ' over WebSocket' : ''}', async () => {
  const client = await connect({
    endpointUrl: game.endpointUrl,
    uid: 'ann',
    transport: '${spec.transport}',
    keepAliveIntervalMs: 0,
  });
  try {
    const hello = await client.request(GAME_VER, GameCommand.Hello);
    assert.equal(hello.status, Status.Ok);
    assert.deepEqual(unpack(hello.payload), { greeting: 'hello ann' });

    const roll = unpack((await client.request(GAME_VER, GameCommand.Roll)).payload) as { roll: number };
    assert.ok(roll.roll >= 1 && roll.roll <= 6, \`roll \${roll.roll}\`);

    await client.request(GAME_VER, GameCommand.Score, pack({ points: 10 }));
    const score = await client.request(GAME_VER, GameCommand.Score, pack({ points: 5 }));
    assert.deepEqual(unpack(score.payload), { score: 15 });
    const refused = await client.request(GAME_VER, GameCommand.Score, pack({ points: 1000 }));
    assert.equal(refused.status, Status.Bad);

    const created = await client.request(1, RoomCommand.Create, pack({ maxMembers: 8 }));
    assert.equal(created.status, Status.Ok);
    const { roomId } = unpack(created.payload) as { roomId: string };
    assert.equal(game.rooms.room(roomId)?.members.length, 1);
  } finally {
    await client.close();
  }
});
${page}`;
}

/** src/page.ts of a WebSocket project: the page on the server's HTTP port (its `httpRoutes`). */
const PAGE_ROUTES = `import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The page's files by path: web/index.html, and its script as \`npm start\` bundled it. */
const FILES = new Map([
  ['/', { file: new URL('../web/index.html', import.meta.url), type: 'text/html; charset=utf-8' }],
  ['/main.js', { file: new URL('../dist/main.js', import.meta.url), type: 'text/javascript; charset=utf-8' }],
]);

/** The server's extra HTTP routes: answers GET of the page's files, false for anything else. */
export async function servePage(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const entry = FILES.get(new URL(req.url ?? '/', 'http://localhost').pathname);
  if (req.method !== 'GET' || entry === undefined) return false;
  let body: Buffer;
  try {
    body = await readFile(entry.file);
  } catch {
    return false; // dist/main.js before the first \`npm start\`: 404
  }
  res.writeHead(200, { 'content-type': entry.type, 'cache-control': 'no-cache' }).end(body);
  return true;
}
`;

function indexHtml(spec: ProjectSpec): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${escapeHtml(spec.name)}</title>
    <link rel="icon" href="data:," />
    <style>
      body { font-family: system-ui, sans-serif; margin: 2rem; }
      #status { font-weight: bold; }
      body[data-state="connected"] #status { color: green; }
      body[data-state="reconnecting"] #status { color: darkorange; }
      body[data-state="closed"] #status, body[data-state="error"] #status { color: firebrick; }
    </style>
  </head>
  <body data-state="connecting">
    <h1>${escapeHtml(spec.name)}</h1>
    <p id="status">connecting…</p>
    <p id="room"></p>
    <button id="roll" type="button" disabled>Roll a die</button>
    <ul id="log"></ul>
    <script type="module" src="/main.js"></script>
  </body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** web/main.ts of a WebSocket project: the page's script, bundled by `npm start` (prestart). */
const PAGE_SCRIPT = `/**
 * The page: a session from the server that served it, a WebSocket, the
 * game's commands, and a room. Open the page's address in a second tab to
 * join the same room. The status line follows the connection.
 */
import { connect, type TidewireClient } from '@tidewire/client/browser';
// The browser-safe entries: @tidewire/room/protocol has the room numbers
// and payload shapes without the server.
import { type MemberEvent, RoomCommand, RoomEvent, type RoomSnapshot } from '@tidewire/room/protocol';
import { BUILTIN_VER, packBytes as pack, unpackBytes as unpack } from '@tidewire/wire/portable';
import { GAME_VER, GameCommand } from '../src/commands.ts';

const $ = (id: string): HTMLElement => document.getElementById(id) as HTMLElement;

/** \`body[data-state]\` (connecting, connected, reconnecting, closed, error) and the status line. */
function show(state: string, text: string): void {
  document.body.dataset.state = state;
  $('status').textContent = text;
}

function log(text: string): void {
  const item = document.createElement('li');
  item.textContent = text;
  $('log').prepend(item);
}

/** A command's answer (shaped \`T\`), or an error with the refusal's message. */
async function call<T = Record<string, unknown>>(
  client: TidewireClient,
  ver: number,
  cmd: number,
  body: unknown = {},
): Promise<T> {
  const answer = await client.request(ver, cmd, pack(body));
  const value = unpack(answer.payload);
  if (!answer.ok) {
    const refusal = value as { code?: string; message?: string };
    throw new Error(String(refusal.message ?? refusal.code ?? answer.status));
  }
  return value as T;
}

/** Joins the room named in the address; without one (or when it is gone), opens a new one. */
async function enterRoom(client: TidewireClient): Promise<void> {
  const named = new URLSearchParams(location.hash.slice(1)).get('room');
  const joined =
    named === null
      ? null
      : await call<RoomSnapshot>(client, BUILTIN_VER, RoomCommand.Join, { roomId: named }).catch(
          () => null,
        );
  const room =
    joined ?? (await call<RoomSnapshot>(client, BUILTIN_VER, RoomCommand.Create, { maxMembers: 8 }));
  history.replaceState(null, '', \`#room=\${room.roomId}\`);
  $('room').textContent = \`In room \${room.roomId} with \${room.members.join(', ')}\`;
}

async function main(): Promise<void> {
  const uid = \`player-\${Math.random().toString(36).slice(2, 8)}\`;
  const client = await connect({ uid, transport: 'ws' });

  client.on('reconnecting', ({ attempt }) => show('reconnecting', \`reconnecting (attempt \${attempt})…\`));
  client.on('resumed', () => show('connected', \`connected as \${uid} (resumed)\`));
  client.on('reconnected-fresh', () => {
    show('connected', \`connected as \${uid} (new session)\`);
    enterRoom(client).catch((err: unknown) => log(\`room: \${(err as Error).message}\`));
  });
  client.on('close', ({ code }) => show('closed', \`disconnected (\${code})\`));
  client.on('push', ({ ver, cmd, payload }) => {
    // Rooms speak the built-in ver 1.
    if (ver !== BUILTIN_VER) return;
    if (cmd !== RoomEvent.MemberJoined && cmd !== RoomEvent.MemberLeft) return;
    const { userId } = unpack(payload) as MemberEvent;
    log(\`\${userId} \${cmd === RoomEvent.MemberJoined ? 'joined' : 'left'}\`);
  });

  log(String((await call(client, GAME_VER, GameCommand.Hello)).greeting));
  await enterRoom(client);
  show('connected', \`connected as \${uid}\`);

  const roll = $('roll') as HTMLButtonElement;
  roll.disabled = false;
  roll.addEventListener('click', () => {
    call(client, GAME_VER, GameCommand.Roll).then(
      ({ roll: value }) => log(\`rolled \${value}\`),
      (err: unknown) => log(\`roll: \${(err as Error).message}\`),
    );
  });
}

main().catch((err: unknown) => show('error', \`error: \${(err as Error).message}\`));
`;

function clusterJson(spec: ProjectSpec): string {
  const cluster = {
    http: { address: '0.0.0.0' },
    // WebSocket upgrades on the HTTP port; TCP and UDP listen on their own.
    ...(spec.transport === 'ws' ? {} : { [spec.transport]: { address: '0.0.0.0' } }),
    publicEndpoint: { address: '127.0.0.1' },
    mesh: { type: 'redis', url: 'redis://127.0.0.1:6379' },
    shutdownTimeout: 10,
  };
  return `${JSON.stringify(cluster, null, 2)}\n`;
}

function compose(spec: ProjectSpec): string {
  const node = (n: number): string => {
    const http = HTTP_PORT + n - 1;
    if (spec.transport === 'ws') return composeNode(n, { HTTP_PORT: http }, [`${http}:${http}`]);
    const game = DEFAULT_GAME_PORT[spec.transport] + n - 1;
    const protocol = spec.transport === 'udp' ? '/udp' : '';
    return composeNode(n, { HTTP_PORT: http, GAME_PORT: game }, [
      `${http}:${http}`,
      `${game}:${game}${protocol}`,
    ]);
  };
  return `# Redis and two game nodes: docker compose up
# Sessions from either node's endpoint (http://127.0.0.1:7000 or :7001) go to
# the less loaded node; players on both reach each other through Redis.
services:
  redis:
    image: redis:7
${node(1)}${node(2)}`;
}

function composeNode(n: number, ports: Record<string, number>, published: string[]): string {
  return `  node-${n}:
    image: node:20
    working_dir: /app
    # The project folder, with a node_modules of the container's own.
    volumes: [".:/app", "/app/node_modules"]
    command: sh -c "npm install --no-audit --no-fund && npm start"
    environment:
      TIDEWIRE_CONFIG: cluster.json
      TIDEWIRE_MESH_URL: redis://redis:6379
${Object.entries(ports)
  .map(([name, port]) => `      ${name}: "${port}"\n`)
  .join('')}    ports: [${published.map((p) => `"${p}"`).join(', ')}]
    depends_on: [redis]
`;
}

function readme(spec: ProjectSpec): string {
  return spec.transport === 'ws' ? wsReadme(spec) : socketReadme(spec, spec.transport);
}

function wsReadme(spec: ProjectSpec): string {
  return `# ${spec.name}

A game on [Tidewire](https://github.com/tidewire/tidewire): a server and a
browser page, over WebSocket.

Prerequisites: Node.js >= 20.19 and npm. \`npm create tidewire\` installed the
dependencies (in a fresh clone of this project, run \`npm install\` once first).

\`\`\`sh
npm start
\`\`\`

bundles the page (web/main.ts, with esbuild, into dist/main.js) and starts
the server: open http://127.0.0.1:${HTTP_PORT}/ (the page, its sessions and its
WebSocket share this port; \`HTTP_PORT\` changes it). The page connects, says
hello, opens a room (open its address in a second tab to join the same room)
and rolls a die; its status line follows the connection (reconnecting,
resumed).

\`\`\`sh
npm test
\`\`\`

runs the test (test/game.test.ts) on free ports: a player over WebSocket, and
the page served at \`/\`.

## Files

| file | what it is |
| --- | --- |
| src/commands.ts | the game's command numbers, shared by server and page |
| src/game.ts | the server: commands (hello, roll, score), rooms, the page |
| src/page.ts | serves web/index.html at \`/\` and the bundled script at \`/main.js\` |
| src/server.ts | \`npm start\`: the game on the configured port, Ctrl-C drains it |
| src/config.ts | the port and an optional JSON config (\`TIDEWIRE_CONFIG\`) |
| web/index.html, web/main.ts | the page, on @tidewire/client in the browser |
| test/game.test.ts | \`npm test\` |
${spec.redis ? clusterReadme(`HTTP_PORT=${HTTP_PORT}`, `HTTP_PORT=${HTTP_PORT + 1}`) : ''}`;
}

function socketReadme(spec: ProjectSpec, transport: 'tcp' | 'udp'): string {
  const gamePort = DEFAULT_GAME_PORT[transport];
  return `# ${spec.name}

A game server on [Tidewire](https://github.com/tidewire/tidewire), over ${transport.toUpperCase()}.

Prerequisites: Node.js >= 20.19 and npm. \`npm create tidewire\` installed the
dependencies (in a fresh clone of this project, run \`npm install\` once first).

\`\`\`sh
npm start
\`\`\`

starts the server: sessions at http://127.0.0.1:${HTTP_PORT}, players on port
${gamePort} (\`HTTP_PORT\` and \`GAME_PORT\` change them). In another terminal,
\`npm run client\` plays one round of every command.

\`\`\`sh
npm test
\`\`\`

runs the test (test/game.test.ts) on free ports.

## Files

| file | what it is |
| --- | --- |
| src/commands.ts | the game's command numbers, shared by server and client |
| src/game.ts | the server: commands (hello, roll, score) and rooms |
| src/server.ts | \`npm start\`: the game on the configured ports, Ctrl-C drains it |
| src/config.ts | ports and an optional JSON config (\`TIDEWIRE_CONFIG\`) |
| src/client.ts | \`npm run client\`: a Node client on @tidewire/client |
| test/game.test.ts | \`npm test\` |
${
  spec.redis
    ? clusterReadme(
        `HTTP_PORT=${HTTP_PORT} GAME_PORT=${gamePort}`,
        `HTTP_PORT=${HTTP_PORT + 1} GAME_PORT=${gamePort + 1}`,
      )
    : ''
}`;
}

function clusterReadme(node1: string, node2: string): string {
  return `
## Cluster

\`cluster.json\` puts the node on a Redis mesh; \`compose.yaml\` runs Redis and
two nodes (sessions on ${HTTP_PORT} and ${HTTP_PORT + 1}):

\`\`\`sh
docker compose up
\`\`\`

Without Docker, with a \`redis-server\` on 6379, start each node in its own
terminal:

\`\`\`sh
TIDEWIRE_CONFIG=cluster.json ${node1} npm start
TIDEWIRE_CONFIG=cluster.json ${node2} npm start
\`\`\`
`;
}
