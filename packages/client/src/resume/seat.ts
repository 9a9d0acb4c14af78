/**
 * The client's side of a seat (protocol section 13): the numbered frames it
 * sent and has not seen acknowledged, the count of numbered frames it
 * received, the single-use token; and the codes that decide whether a lost
 * connection is worth a resume. Shared by the Node and browser clients.
 */
import {
  AckSchedule,
  LINK_LOSS_CODES,
  NumberedLog,
  ResumeErrorCode,
} from '@tidewire/wire/portable';

/** Most numbered frames the client keeps unacknowledged (past it, it cannot resume). */
const CLIENT_LOG_BOUNDS = { maxFrames: 4096, maxBytes: 4 * 1024 * 1024 };

/** The resume offer of a hello or resume answer (protocol section 13.2). */
export interface ResumeOffer {
  token: Uint8Array;
  ttlMs: number;
}

/** The client's side of a seat. */
export class ClientSeat {
  token: Uint8Array;
  ttlMs: number;
  /** When the connection was lost (ms since epoch), 0 while connected. */
  lostAt = 0;
  readonly log: NumberedLog = new NumberedLog(CLIENT_LOG_BOUNDS);
  readonly acks: AckSchedule;

  constructor(offer: ResumeOffer, sendAck: (received: number) => void) {
    this.token = offer.token;
    this.ttlMs = offer.ttlMs;
    this.acks = new AckSchedule(sendAck);
  }
}

/** The `resume` of a hello or resume answer, when well formed (the token copied). */
export function resumeOffer(body: Record<string, unknown>): ResumeOffer | null {
  const resume = body.resume as { token?: unknown; ttlMs?: unknown } | undefined;
  if (typeof resume !== 'object' || resume === null) return null;
  if (!(resume.token instanceof Uint8Array) || resume.token.length !== 16) return null;
  if (typeof resume.ttlMs !== 'number' || !(resume.ttlMs > 0)) return null;
  return { token: new Uint8Array(resume.token), ttlMs: resume.ttlMs };
}

/** Close codes after which the client reconnects (a link loss, or a node that shut down). */
export const RECONNECT_CODES: ReadonlySet<string> = new Set([
  ...LINK_LOSS_CODES,
  'TIDEWIRE_ERR_SERVER_CLOSING',
]);

/** Refusals after which this seat cannot resume: the client goes for a fresh session. */
export function isSeatGone(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    code === ResumeErrorCode.Invalid ||
    code === ResumeErrorCode.Expired ||
    code === ResumeErrorCode.Overflow ||
    code === 'TIDEWIRE_ERR_REPLACED' ||
    code === 'TIDEWIRE_ERR_SERVER_CLOSING' ||
    code === 'TIDEWIRE_ERR_HELLO_REQUIRED' ||
    // Nothing listens there any more: the node is gone.
    code === 'TIDEWIRE_ERR_CONNECT_FAILED'
  );
}
