/**
 * Admission: what every connection goes through before it is a user, written
 * once for every transport. The first frame must be the hello (protocol
 * section 9.2); its sid must name a live ticket issued for this node and this
 * transport, the node must be ONLINE, and a sealed hello must open with the
 * ticket's key. A refusal answers `Bad` with its code and closes with it.
 * Frames sent with the hello, before its answer, are held in order and run
 * after its `Ok`, or are discarded with a refusal (protocol section 9.2).
 */
import type { RouterLane } from '@tidewire/command-router';
import type { Mesh, SessionTicket } from '@tidewire/mesh';
import {
  CORE_VER,
  CoreCommand,
  encodeFrame,
  type Frame,
  type Logger,
  openFrame,
  pack,
  SessionCipher,
  Status,
  unpack,
} from '@tidewire/wire';
import { ServerErrorCode } from './errors.ts';
import { ServerState } from './state.ts';
import type { Transport } from './transport-types.ts';
import { User } from './user.ts';
import type { UserConnection } from './user-connection.ts';
import type { UserRegistry } from './users.ts';

/** The hello's sid: 16 raw bytes. */
export const HELLO_SID_LENGTH = 16;

/** What admission needs of the server. */
export interface AdmissionContext {
  readonly logger: Logger;
  mesh(): Mesh;
  nodeId(): string;
  state(): ServerState;
  /** Whether sessions of `transport` are encrypted (config). */
  encryption(transport: Transport): boolean;
  /** The user's command lane: `conn.data` after the hello, read by `onUserFrame`. */
  lane(user: User): RouterLane<User>;
  /** The frame handler of admitted connections (`user-frames.ts`). */
  readonly onUserFrame: (frame: Frame, connection: UserConnection) => void;
  readonly users: UserRegistry;
  /** How many frames sent with the hello are held until its answer (config `commands.maxQueuedCommands`). */
  maxEarlyFrames(): number;
}

type ConsumeTicket = (sid: string) => Promise<SessionTicket | null>;

export class Admission {
  readonly #context: AdmissionContext;
  /** Connections that have not said hello yet. */
  readonly #pending = new Set<UserConnection>();

  constructor(context: AdmissionContext) {
    this.#context = context;
  }

  /** `TransportHost.accept`: waits for the connection's hello. */
  accept(connection: UserConnection, handshakeTicket?: SessionTicket | null): void {
    if (handshakeTicket === null) {
      void connection.close(ServerErrorCode.SessionInvalid, 'no session for this handshake');
      return;
    }
    const consume: ConsumeTicket =
      handshakeTicket === undefined
        ? (sid) => this.#context.mesh().consumeTicket(sid)
        : async (sid) => (sid === handshakeTicket.sid ? handshakeTicket : null);
    this.#pending.add(connection);
    connection.onClose = () => {
      this.#pending.delete(connection);
    };
    connection.onFrame = (hello: Frame) => {
      // Frames sent with the hello, before its answer, run once it is admitted
      // (protocol section 9.2): held here, in order, within the queue bound.
      const early: Frame[] = [];
      const limit = this.#context.maxEarlyFrames();
      connection.onFrame = (frame: Frame) => {
        if (early.length < limit) {
          early.push(frame);
          return;
        }
        connection.onFrame = null;
        early.length = 0;
        void connection.close(
          ServerErrorCode.QueueOverflow,
          `more than ${limit} frames before the hello answer`,
        );
      };
      void this.#hello(connection, hello, consume, early);
    };
  }

  /** `TransportHost.claimTicket`: a handshake's check of its sid, single use. */
  async claimTicket(transport: Transport, sid: Uint8Array): Promise<SessionTicket | null> {
    const context = this.#context;
    if (context.state() !== ServerState.Online || sid.length !== HELLO_SID_LENGTH) return null;
    let ticket: SessionTicket | null;
    try {
      ticket = await context
        .mesh()
        .consumeTicket(Buffer.from(sid.buffer, sid.byteOffset, sid.byteLength).toString('hex'));
    } catch (err) {
      context.logger.error?.('ticket store failed', { error: String(err) });
      return null;
    }
    if (
      ticket === null ||
      ticket.expiresAt < Date.now() ||
      ticket.transport !== transport ||
      ticket.nodeId !== context.nodeId()
    ) {
      return null;
    }
    return ticket;
  }

  /** Drops every connection still waiting for its hello (the listeners are closed). */
  destroyPending(): void {
    for (const connection of this.#pending) connection.destroy();
    this.#pending.clear();
  }

  async #hello(
    connection: UserConnection,
    frame: Frame,
    consume: ConsumeTicket,
    early: Frame[],
  ): Promise<void> {
    const context = this.#context;
    const transport = connection.transport;
    const refuse = (code: string, message: string): void => {
      this.#pending.delete(connection);
      connection.onFrame = null; // what came with a refused hello is discarded
      early.length = 0;
      connection.send(
        encodeFrame(CORE_VER, CoreCommand.Hello, Status.Bad, pack({ code, message })),
      );
      void connection.close(code, message);
    };
    if (
      frame.ver !== CORE_VER ||
      frame.cmd !== CoreCommand.Hello ||
      frame.status !== Status.Request
    ) {
      refuse(ServerErrorCode.HelloRequired, 'the first frame must be hello (ver 0, cmd 4)');
      return;
    }
    if (frame.payload.length < HELLO_SID_LENGTH) {
      refuse(ServerErrorCode.SessionInvalid, 'hello must carry the 16-byte sid');
      return;
    }
    const sid = frame.payload.subarray(0, HELLO_SID_LENGTH).toString('hex');
    // A transport that does not seal its frames itself gets them sealed by the server.
    const sealedHello = !connection.sealed && context.encryption(transport);
    let clientInfo: Record<string, unknown> = {};
    if (!sealedHello && frame.payload.length > HELLO_SID_LENGTH) {
      try {
        clientInfo = clientInfoOf(frame.payload.subarray(HELLO_SID_LENGTH));
      } catch {
        refuse(ServerErrorCode.SessionInvalid, 'hello client info must be a msgpack map');
        return;
      }
    }
    const state = context.state();
    if (state !== ServerState.Online) {
      refuse(ServerErrorCode.NotAccepting, `server is ${state} and accepts no new users`);
      return;
    }
    let ticket: SessionTicket | null;
    try {
      ticket = await consume(sid);
    } catch (err) {
      context.logger.error?.('ticket store failed', { error: String(err) });
      refuse(ServerErrorCode.SessionInvalid, 'session could not be checked');
      return;
    }
    if (connection.closed) return;
    if (ticket === null || ticket.expiresAt < Date.now()) {
      refuse(ServerErrorCode.SessionInvalid, 'unknown, used or expired session id');
      return;
    }
    if (ticket.transport !== transport || ticket.nodeId !== context.nodeId()) {
      refuse(ServerErrorCode.SessionInvalid, 'session was issued for another server or transport');
      return;
    }
    let cipher: SessionCipher | null = null;
    if (sealedHello) {
      // The rest of the hello is sealed with the session key: the client proves it holds it.
      cipher = new SessionCipher(Buffer.from(ticket.key, 'hex'), 'server');
      try {
        const info = openFrame(cipher, {
          ...frame,
          payload: frame.payload.subarray(HELLO_SID_LENGTH),
        }).payload;
        if (info.length > 0) clientInfo = clientInfoOf(info);
      } catch {
        refuse(ServerErrorCode.SessionInvalid, 'hello must be sealed with the session key');
        return;
      }
    }
    this.#pending.delete(connection);
    const user = new User(ticket.userId, sid, transport, connection, clientInfo, cipher);
    context.users.add(user, connection);
    // The connection keeps the user's router lane (which knows the user): one
    // frame handler serves every connection, and a command looks nothing up.
    connection.data = context.lane(user);
    connection.onFrame = context.onUserFrame;
    user.send(
      CORE_VER,
      CoreCommand.Hello,
      pack({ userId: user.id, serverTime: Date.now(), state: context.state() }),
      Status.Ok,
    );
    context.users.announce(user);
    // Then what was sent with the hello, in order, as if sent after its answer.
    for (const held of early.splice(0)) {
      if (connection.closed) break;
      context.onUserFrame(held, connection);
    }
  }
}

/** The hello's client info: a msgpack map, or it throws. */
function clientInfoOf(bytes: Buffer): Record<string, unknown> {
  const info = unpack(bytes);
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    throw new Error('not a map');
  }
  return info as Record<string, unknown>;
}
