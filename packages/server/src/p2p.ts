import type { CommandHandler } from '@tidewire/command-router';
import { CommandError } from '@tidewire/command-router';
import { BUILTIN_VER, pack, Status, unpackMap } from '@tidewire/wire';
import type { User } from './user.ts';

/**
 * Peer-to-peer signalling (ver 1, protocol section 11.11): the server relays
 * the addresses two clients found by reflection so they can punch a direct
 * UDP path, and relays their data when no direct path opens.
 */
export const P2PCommand = {
  /** Client → server: `{ peer, public, local }`: ask `peer` for a direct path. Answer Ok `{}`. */
  Connect: 10,
  /** Server → peer (push): `{ from, public, local }`: someone asks for a direct path. */
  Offer: 11,
  /** Peer → server: `{ to, public, local }`: the answer to an offer. Answer Ok `{}`. */
  Answer: 12,
  /** Server → requester (push): `{ from, public, local }`: the peer's addresses. */
  Answered: 13,
  /** Client → server: `{ to, data }`: relay data to a peer (no direct path). Answer Ok `{}`. */
  Relay: 14,
  /** Server → peer (push): `{ from, data }`. */
  Relayed: 15,
} as const;

type SendToUser = (userId: string, ver: number, cmd: number, payload: Uint8Array) => Promise<void>;

const ADDRESS = /^(?:\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/;
const MAX_RELAY_BYTES = 4096;

function body(payload: Buffer): Record<string, unknown> {
  const value = unpackMap(payload);
  if (value !== undefined) return value;
  throw new CommandError(
    'TIDEWIRE_ERR_INVALID_ARGUMENT',
    'payload must be a msgpack map',
    Status.Bad,
  );
}

function text(value: unknown, name: string, pattern?: RegExp): string {
  if (
    typeof value !== 'string' ||
    value === '' ||
    (pattern !== undefined && !pattern.test(value))
  ) {
    throw new CommandError(
      'TIDEWIRE_ERR_INVALID_ARGUMENT',
      `${name} is missing or malformed`,
      Status.Bad,
    );
  }
  return value;
}

/** The handlers of the P2P commands; the server registers them when `udp.enableP2P` is on. */
export function p2pHandlers(sendToUser: SendToUser): [number, CommandHandler<User>][] {
  const forward = async (
    user: User,
    to: string,
    cmd: number,
    message: Record<string, unknown>,
  ): Promise<void> => {
    if (to === user.id)
      throw new CommandError(
        'TIDEWIRE_ERR_INVALID_ARGUMENT',
        'a peer must be another user',
        Status.Bad,
      );
    try {
      await sendToUser(to, BUILTIN_VER, cmd, pack({ from: user.id, ...message }));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new CommandError(
        code === 'TIDEWIRE_ERR_USER_NOT_FOUND'
          ? 'TIDEWIRE_ERR_P2P_PEER_NOT_FOUND'
          : 'TIDEWIRE_ERR_P2P_FAILED',
        `peer ${to} cannot be reached`,
        Status.Bad,
      );
    }
  };
  const addresses = (b: Record<string, unknown>): Record<string, string> => ({
    public: text(b.public, 'public', ADDRESS),
    local: text(b.local, 'local', ADDRESS),
  });
  const ok = (user: User, ver: number, cmd: number): void => {
    user.send(ver, cmd, pack({}), Status.Ok);
  };
  return [
    [
      P2PCommand.Connect,
      async (ver, cmd, payload, user) => {
        const b = body(payload);
        await forward(user, text(b.peer, 'peer'), P2PCommand.Offer, addresses(b));
        ok(user, ver, cmd);
      },
    ],
    [
      P2PCommand.Answer,
      async (ver, cmd, payload, user) => {
        const b = body(payload);
        await forward(user, text(b.to, 'to'), P2PCommand.Answered, addresses(b));
        ok(user, ver, cmd);
      },
    ],
    [
      P2PCommand.Relay,
      async (ver, cmd, payload, user) => {
        const b = body(payload);
        if (!(b.data instanceof Uint8Array) || b.data.length > MAX_RELAY_BYTES) {
          throw new CommandError(
            'TIDEWIRE_ERR_INVALID_ARGUMENT',
            `data must be at most ${MAX_RELAY_BYTES} bytes`,
            Status.Bad,
          );
        }
        await forward(user, text(b.to, 'to'), P2PCommand.Relayed, { data: b.data });
        ok(user, ver, cmd);
      },
    ],
  ];
}
