import { pack, unpack } from '@tidewire/wire';

/**
 * Bus envelopes: what travels between nodes. On Redis each is one msgpack
 * array (layout in docs/protocol.md, section 10); the in-memory mesh passes the objects.
 */
export const EnvelopeKind = {
  /** `[1, from, topic, payload]`: broadcast or direct message. */
  Message: 1,
  /** `[2, from, requestId, userId | null, sid, ver, cmd, payload]`: deliver to a user or session. */
  UserRequest: 2,
  /** `[3, from, requestId, status]`: answer to a user request. */
  Ack: 3,
} as const;

/** Status carried by an ack. */
export const AckStatus = {
  Delivered: 0,
  NotFound: 1,
  Failed: 2,
} as const;

export type AckStatus = (typeof AckStatus)[keyof typeof AckStatus];

export interface MessageEnvelope {
  kind: typeof EnvelopeKind.Message;
  from: string;
  topic: string;
  payload: Uint8Array;
}

export interface UserRequestEnvelope {
  kind: typeof EnvelopeKind.UserRequest;
  from: string;
  requestId: number;
  userId: string | null;
  sid: string;
  ver: number;
  cmd: number;
  payload: Uint8Array;
}

export interface AckEnvelope {
  kind: typeof EnvelopeKind.Ack;
  from: string;
  requestId: number;
  status: AckStatus;
}

export type Envelope = MessageEnvelope | UserRequestEnvelope | AckEnvelope;

export function encodeEnvelope(envelope: Envelope): Buffer {
  switch (envelope.kind) {
    case EnvelopeKind.Message:
      return pack([envelope.kind, envelope.from, envelope.topic, envelope.payload]);
    case EnvelopeKind.UserRequest:
      return pack([
        envelope.kind,
        envelope.from,
        envelope.requestId,
        envelope.userId,
        envelope.sid,
        envelope.ver,
        envelope.cmd,
        envelope.payload,
      ]);
    case EnvelopeKind.Ack:
      return pack([envelope.kind, envelope.from, envelope.requestId, envelope.status]);
  }
}

/** Thrown by `decodeEnvelope`; `message` is the reason, for the drop log line. */
export class MalformedEnvelope extends Error {
  override name = 'MalformedEnvelope';
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** Decodes and checks one bus message; throws `MalformedEnvelope` when it is not one. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch {
    throw new MalformedEnvelope('not msgpack');
  }
  if (!Array.isArray(value)) throw new MalformedEnvelope('not an array');
  const [kind, from] = value as unknown[];
  if (!isText(from)) throw new MalformedEnvelope('no sender');
  switch (kind) {
    case EnvelopeKind.Message: {
      const [, , topic, payload] = value as unknown[];
      if (value.length !== 4 || typeof topic !== 'string' || !(payload instanceof Uint8Array)) {
        throw new MalformedEnvelope('bad message fields');
      }
      return { kind, from, topic, payload };
    }
    case EnvelopeKind.UserRequest: {
      const [, , requestId, userId, sid, ver, cmd, payload] = value as unknown[];
      if (
        value.length !== 8 ||
        !isUint(requestId, Number.MAX_SAFE_INTEGER) ||
        !(userId === null || isText(userId)) ||
        !isText(sid) ||
        !isUint(ver, 0xff) ||
        !isUint(cmd, 0xffff) ||
        !(payload instanceof Uint8Array)
      ) {
        throw new MalformedEnvelope('bad user request fields');
      }
      return { kind, from, requestId, userId, sid, ver, cmd, payload };
    }
    case EnvelopeKind.Ack: {
      const [, , requestId, status] = value as unknown[];
      if (
        value.length !== 4 ||
        !isUint(requestId, Number.MAX_SAFE_INTEGER) ||
        (status !== AckStatus.Delivered &&
          status !== AckStatus.NotFound &&
          status !== AckStatus.Failed)
      ) {
        throw new MalformedEnvelope('bad ack fields');
      }
      return { kind, from, requestId, status };
    }
    default:
      throw new MalformedEnvelope('unknown kind');
  }
}
