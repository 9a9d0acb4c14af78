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
  ResumeErrorCode,
  SessionCipher,
  Status,
  unpack,
} from '@tidewire/wire';
import { ServerErrorCode } from './errors.ts';
import type { Seats } from './seats.ts';
import { ServerState } from './state.ts';
import type { Transport } from './transport-types.ts';
import { User } from './user.ts';
import type { ResumeHandshake, UserConnection } from './user-connection.ts';
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
  readonly onUserFrame: (frame: Frame, connection: UserConnection, reliable: boolean) => void;
  readonly users: UserRegistry;
  readonly seats: Seats;
  /** How many frames sent with the hello are held until its answer (config `commands.maxQueuedCommands`). */
  maxEarlyFrames(): number;
}

type ConsumeTicket = (sid: string) => Promise<SessionTicket | null>;

/** A frame sent with the hello, held until its answer. */
interface EarlyFrame {
  frame: Frame;
  reliable: boolean;
}

export class Admission {
  readonly #context: AdmissionContext;
  /** Connections that have not said hello yet. */
  readonly #pending = new Set<UserConnection>();

  constructor(context: AdmissionContext) {
    this.#context = context;
  }

  /** `TransportHost.accept`: waits for the connection's hello. */
  accept(
    connection: UserConnection,
    handshakeTicket?: SessionTicket | ResumeHandshake | null,
  ): void {
    if (handshakeTicket === null) {
      void connection.close(ServerErrorCode.SessionInvalid, 'no session for this handshake');
      return;
    }
    // A handshake that took a resume token admits a resume only, and the reverse.
    // undefined: no handshake of its own (TCP); null: a ticket handshake (no resume).
    const resumeToken =
      handshakeTicket === undefined
        ? undefined
        : 'resumeToken' in handshakeTicket
          ? handshakeTicket.resumeToken
          : null;
    const consume: ConsumeTicket =
      handshakeTicket === undefined
        ? (sid) => this.#context.mesh().consumeTicket(sid)
        : 'resumeToken' in handshakeTicket
          ? async () => null
          : async (sid) => (sid === handshakeTicket.sid ? handshakeTicket : null);
    this.#pending.add(connection);
    connection.onClose = () => {
      this.#pending.delete(connection);
    };
    connection.onFrame = (hello: Frame) => {
      if (hello.ver === CORE_VER && hello.cmd === CoreCommand.Resume) {
        // Frames before the resume answer are a protocol violation: ignored.
        connection.onFrame = null;
        this.#resume(connection, hello, resumeToken);
        return;
      }
      // Frames sent with the hello, before its answer, run once it is admitted
      // (protocol section 9.2): held here, in order, within the queue bound.
      const early: EarlyFrame[] = [];
      const limit = this.#context.maxEarlyFrames();
      connection.onFrame = (frame: Frame, _connection, reliable) => {
        if (early.length < limit) {
          early.push({ frame, reliable });
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

  /** `TransportHost.resumeKey`: a handshake's check of a resume token. */
  resumeKey(id: Uint8Array): Buffer | null {
    return this.#context.seats.resumeKey(id);
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

  /** A resume request in place of the hello (protocol section 13.6): the seats decide. */
  #resume(
    connection: UserConnection,
    frame: Frame,
    handshakeToken: Buffer | null | undefined,
  ): void {
    this.#pending.delete(connection);
    if (frame.status !== Status.Request) {
      this.#refuse(connection, CoreCommand.Resume, ServerErrorCode.HelloRequired, 'not a request');
      return;
    }
    if (handshakeToken === null) {
      this.#refuse(
        connection,
        CoreCommand.Resume,
        ResumeErrorCode.Invalid,
        'this handshake named a session, not a resume token',
      );
      return;
    }
    this.#context.seats.resume(connection, frame, handshakeToken, (code, message) =>
      this.#refuse(connection, CoreCommand.Resume, code, message),
    );
  }

  #refuse(connection: UserConnection, cmd: number, code: string, message: string): void {
    this.#pending.delete(connection);
    connection.send(encodeFrame(CORE_VER, cmd, Status.Bad, pack({ code, message })));
    void connection.close(code, message);
  }

  async #hello(
    connection: UserConnection,
    frame: Frame,
    consume: ConsumeTicket,
    early: EarlyFrame[],
  ): Promise<void> {
    const context = this.#context;
    const transport = connection.transport;
    const refuse = (code: string, message: string): void => {
      connection.onFrame = null; // what came with a refused hello is discarded
      early.length = 0;
      this.#refuse(connection, CoreCommand.Hello, code, message);
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
    const resume = context.seats.open(
      user,
      connection,
      Buffer.from(ticket.key, 'hex'),
      connection.sealed || cipher !== null,
    );
    // The answer is not numbered (protocol section 13.1): written before the seat counts.
    user.write(
      CORE_VER,
      CoreCommand.Hello,
      Status.Ok,
      pack({
        userId: user.id,
        serverTime: Date.now(),
        state: context.state(),
        ...(resume !== null ? { resume } : {}),
      }),
    );
    context.seats.start(user);
    context.users.announce(user);
    // Then what was sent with the hello, in order, as if sent after its answer.
    for (const held of early.splice(0)) {
      if (connection.closed) break;
      context.onUserFrame(held.frame, connection, held.reliable);
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
