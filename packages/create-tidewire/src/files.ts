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

const DEFAULT_GAME_PORT: Record<ProjectTransport, number> = { tcp: 7200, udp: 7100 };

/** Every file of a new project, by path relative to its folder. */
export function projectFiles(spec: ProjectSpec): Map<string, string> {
  const files = new Map<string, string>([
    ['package.json', packageJson(spec)],
    ['tsconfig.json', TSCONFIG],
    ['.gitignore', 'node_modules/\n'],
    ['README.md', readme(spec)],
    ['src/commands.ts', COMMANDS],
    ['src/config.ts', config(spec)],
    ['src/game.ts', game(spec)],
    ['src/server.ts', SERVER],
    ['src/client.ts', client(spec)],
    ['test/game.test.ts', gameTest(spec)],
  ]);
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
    scripts: {
      start: 'tsx src/server.ts',
      client: 'tsx src/client.ts',
      test: 'tsx --test test/game.test.ts',
      typecheck: 'tsc',
    },
    dependencies: spec.dependencies,
    devDependencies: DEV_DEPENDENCIES,
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

const TSCONFIG = `${JSON.stringify(
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
    include: ['src', 'test'],
  },
  null,
  2,
)}\n`;

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
  const section = spec.transport;
  return `import { readFileSync } from 'node:fs';
import type { ServerConfigInput } from '@tidewire/server';

/**
 * The server's config: the JSON file named by TIDEWIRE_CONFIG (if any), then
 * HTTP_PORT (session endpoint, default 7000) and GAME_PORT (${section.toUpperCase()}, default
 * ${DEFAULT_GAME_PORT[spec.transport]}) on top. TIDEWIRE_MESH_URL (redis://...) puts the node in a cluster.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfigInput {
  const file: ServerConfigInput =
    env.TIDEWIRE_CONFIG === undefined || env.TIDEWIRE_CONFIG === ''
      ? {}
      : JSON.parse(readFileSync(env.TIDEWIRE_CONFIG, 'utf8'));
  return {
    ...file,
    http: { ...file.http, port: port(env.HTTP_PORT, file.http?.port ?? 7000) },
    ${section}: { ...file.${section}, port: port(env.GAME_PORT, file.${section}?.port ?? ${DEFAULT_GAME_PORT[spec.transport]}) },
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

function game(spec: ProjectSpec): string {
  const setup = spec.transport === 'udp' ? 'setupAsUDPServer' : 'setupAsTCPServer';
  return `import { installRooms, type RoomService } from '@tidewire/room';
import { Bad, Ok, createServer, type ServerConfigInput, type TidewireServer } from '@tidewire/server';
import { pack, unpack } from '@tidewire/wire';
import { GAME_VER, GameCommand } from './commands.ts';

export interface Game {
  readonly server: TidewireServer;
  readonly rooms: RoomService;
  /** Where clients ask for a session. */
  readonly endpointUrl: string;
  close(): Promise<void>;
}

/** Starts the game server: its commands, rooms (the built-in ver 1 module), the session endpoint. */
export async function startGame(config: ServerConfigInput): Promise<Game> {
  const server = createServer({ config });
  await server.${setup}();
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

const SERVER = `import { loadConfig } from './config.ts';
import { startGame } from './game.ts';

const game = await startGame(loadConfig());
console.log(\`sessions at \${game.endpointUrl}, players on \${game.server.getEndPoint()} (Ctrl-C stops)\`);

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

function client(spec: ProjectSpec): string {
  return `import { connect } from '@tidewire/client';
import { RoomCommand } from '@tidewire/room';
import { pack, unpack } from '@tidewire/wire';
import { GAME_VER, GameCommand } from './commands.ts';

// npm run client [player-id]: one round trip of every game command, then a room.
const endpointUrl = process.env.TIDEWIRE_ENDPOINT_URL ?? 'http://127.0.0.1:7000';
const uid = process.argv[2] ?? \`player-\${process.pid}\`;

const client = await connect({ endpointUrl, uid, transport: '${spec.transport}' });
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
  game = await startGame({ http: { port: 0 }, ${spec.transport}: { port: 0 } });
});
after(() => game.close());

test('a player says hello, scores, and opens a room', async () => {
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
`;
}

function clusterJson(spec: ProjectSpec): string {
  const cluster = {
    http: { address: '0.0.0.0' },
    [spec.transport]: { address: '0.0.0.0' },
    publicEndpoint: { address: '127.0.0.1' },
    mesh: { type: 'redis', url: 'redis://127.0.0.1:6379' },
    shutdownTimeout: 10,
  };
  return `${JSON.stringify(cluster, null, 2)}\n`;
}

function compose(spec: ProjectSpec): string {
  const base = DEFAULT_GAME_PORT[spec.transport];
  const protocol = spec.transport === 'udp' ? '/udp' : '';
  const node = (n: number): string => `  node-${n}:
    image: node:20
    working_dir: /app
    # The project folder, with a node_modules of the container's own.
    volumes: [".:/app", "/app/node_modules"]
    command: sh -c "npm install --no-audit --no-fund && npm start"
    environment:
      TIDEWIRE_CONFIG: cluster.json
      TIDEWIRE_MESH_URL: redis://redis:6379
      HTTP_PORT: "${7000 + n - 1}"
      GAME_PORT: "${base + n - 1}"
    ports: ["${7000 + n - 1}:${7000 + n - 1}", "${base + n - 1}:${base + n - 1}${protocol}"]
    depends_on: [redis]
`;
  return `# Redis and two game nodes: docker compose up
# Sessions from either node's endpoint (http://127.0.0.1:7000 or :7001) go to
# the less loaded node; players on both reach each other through Redis.
services:
  redis:
    image: redis:7
${node(1)}${node(2)}`;
}

function readme(spec: ProjectSpec): string {
  const cluster = spec.redis
    ? `
## Cluster

\`cluster.json\` puts the node on a Redis mesh; \`compose.yaml\` runs Redis and
two nodes (sessions on 7000 and 7001):

\`\`\`sh
docker compose up
\`\`\`

Without Docker, with a \`redis-server\` on 6379, start each node in its own
terminal:

\`\`\`sh
TIDEWIRE_CONFIG=cluster.json HTTP_PORT=7000 GAME_PORT=${DEFAULT_GAME_PORT[spec.transport]} npm start
TIDEWIRE_CONFIG=cluster.json HTTP_PORT=7001 GAME_PORT=${DEFAULT_GAME_PORT[spec.transport] + 1} npm start
\`\`\`
`
    : '';
  return `# ${spec.name}

A game server on [Tidewire](https://github.com/tidewire/tidewire), over ${spec.transport.toUpperCase()}.

Prerequisites: Node.js >= 20.19 and npm. \`npm create tidewire\` installed the
dependencies (in a fresh clone of this project, run \`npm install\` once first).

\`\`\`sh
npm start
\`\`\`

starts the server: sessions at http://127.0.0.1:7000, players on port
${DEFAULT_GAME_PORT[spec.transport]} (\`HTTP_PORT\` and \`GAME_PORT\` change them). In another terminal,
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
${cluster}`;
}
