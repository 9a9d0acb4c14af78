import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateError, CreateErrorCode } from './errors.ts';

/** The transports a generated project can use; the first is the default. */
export const TRANSPORTS: readonly ['ws', 'tcp', 'udp'] = ['ws', 'tcp', 'udp'];
export type ProjectTransport = (typeof TRANSPORTS)[number];

export interface CreateOptions {
  /** Folder to write; created when missing, refused when not empty. */
  readonly targetDir: string;
  /** package.json name of the project. Default: the folder's name. */
  readonly name: string;
  /**
   * The transport between the game's clients and its server. Default 'ws':
   * WebSocket on the HTTP port, with a browser page; 'tcp' and 'udp' come
   * with a Node client script.
   */
  readonly transport: ProjectTransport;
  /** Adds the cluster config (mesh on Redis) and a compose file for Redis and two nodes. */
  readonly redis: boolean;
  /**
   * For testing this generator before a release: a folder of packed
   * `@tidewire/*` tarballs (`pnpm pack`) the project's dependencies point at
   * (`file:` specs) instead of the npm registry.
   */
  readonly tarballs?: string;
  /** Runs `npm install` in the new folder (the CLI's default; `--no-install` skips it). */
  readonly install: boolean;
}

export const USAGE: string = `Usage: npm create tidewire@latest <folder> [-- options]

Writes a Tidewire game project: a server (src/server.ts) with a few commands
and rooms, a client (over WebSocket: a browser page; over TCP or UDP: a Node
script), a test, and a README.

Options:
  --transport <ws|tcp|udp>  the clients' transport (default ws)
  --redis                   add the cluster config and a compose file (Redis, two nodes)
  --name <name>             the package name (default: the folder's name)
  --no-install              do not run npm install in the new folder
  --tarballs <folder>       testing only: take @tidewire packages from packed
                            tarballs in <folder> instead of the registry
                            (also CREATE_TIDEWIRE_TARBALLS)
  -h, --help                this text
`;

/** Parses the command line; `null` means: print the usage and exit 0. */
export function parseCreateArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): CreateOptions | null {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    throw new CreateError(CreateErrorCode.InvalidArgument, (err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return null;
  const folder = positionals[0];
  if (folder === undefined || folder === '') {
    throw new CreateError(
      CreateErrorCode.InvalidArgument,
      'name the folder to create: npm create tidewire@latest my-game',
    );
  }
  if (positionals.length > 1) {
    throw new CreateError(
      CreateErrorCode.InvalidArgument,
      `one folder only, got: ${positionals.join(' ')}`,
    );
  }
  const transport = values.transport ?? TRANSPORTS[0];
  if (!isTransport(transport)) {
    throw new CreateError(
      CreateErrorCode.InvalidArgument,
      `--transport must be one of ${TRANSPORTS.join(', ')}, got "${transport}"`,
    );
  }
  const targetDir = resolve(folder);
  const name =
    values.name ??
    basename(targetDir)
      .toLowerCase()
      .replaceAll(/[^a-z0-9._-]+/g, '-');
  if (!/^(?:@[a-z0-9._-]+\/)?[a-z0-9][a-z0-9._-]*$/.test(name)) {
    throw new CreateError(
      CreateErrorCode.InvalidArgument,
      `"${name}" is not a valid package name: pass --name`,
    );
  }
  const tarballs = values.tarballs ?? env.CREATE_TIDEWIRE_TARBALLS;
  return {
    targetDir,
    name,
    transport,
    redis: values.redis === true,
    install: values['no-install'] !== true,
    ...(tarballs === undefined || tarballs === '' ? {} : { tarballs: resolve(tarballs) }),
  };
}

function parseCommandLine(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      transport: { type: 'string' },
      redis: { type: 'boolean' },
      name: { type: 'string' },
      tarballs: { type: 'string' },
      'no-install': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function isTransport(value: string): value is ProjectTransport {
  return (TRANSPORTS as readonly string[]).includes(value);
}
