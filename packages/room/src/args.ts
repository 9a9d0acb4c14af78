import { CommandError } from '@tidewire/server';
import { isMsgpackMap, Status, unpackMap } from '@tidewire/wire';
import {
  type CreateOptions,
  type Properties,
  type PropertyUpdate,
  RoomErrorCode,
} from './protocol.ts';

export type Args = Record<string, unknown>;

export const MAX_MEMBERS = 1000;

/** Throws the typed refusal a client receives (`Bad` unless told). */
export function fail(
  code: string,
  message: string,
  status: typeof Status.Bad | typeof Status.Err = Status.Bad,
): never {
  throw new CommandError(code, message, status);
}

export function parseBody(payload: Uint8Array): Args {
  if (payload.length === 0) return {};
  return unpackMap(payload) ?? fail(RoomErrorCode.Invalid, 'payload must be a msgpack map');
}

export function textOf(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '' || value.length > 256)
    fail(RoomErrorCode.Invalid, `${name} must be a string of 1 to 256 characters`);
  return value;
}

export function bytesOf(value: unknown): Uint8Array {
  if (value === undefined || value === null) return new Uint8Array(0);
  if (!(value instanceof Uint8Array)) fail(RoomErrorCode.Invalid, 'data must be bytes');
  return value;
}

/** Checks create options, from a client or from server code. */
export function parseCreate(b: Args): Required<Omit<CreateOptions, 'properties'>> & {
  properties: Properties;
} {
  const maxMembers = b.maxMembers ?? 16;
  if (
    typeof maxMembers !== 'number' ||
    !Number.isInteger(maxMembers) ||
    maxMembers < 1 ||
    maxMembers > MAX_MEMBERS
  )
    fail(RoomErrorCode.Invalid, `maxMembers must be an integer from 1 to ${MAX_MEMBERS}`);
  const emptyTtlMs = b.emptyTtlMs ?? 0;
  if (
    typeof emptyTtlMs !== 'number' ||
    !Number.isInteger(emptyTtlMs) ||
    emptyTtlMs < 0 ||
    emptyTtlMs > 2_147_483_647
  )
    fail(RoomErrorCode.Invalid, 'emptyTtlMs must be an integer >= 0 (ms)');
  const allowJoin = b.allowJoin ?? true;
  if (typeof allowJoin !== 'boolean') fail(RoomErrorCode.Invalid, 'allowJoin must be a boolean');
  const properties = b.properties ?? {};
  if (!isMsgpackMap(properties)) fail(RoomErrorCode.Invalid, 'properties must be a map');
  return { maxMembers, emptyTtlMs, allowJoin, properties };
}

/** Checks an update's shape (its effect is checked against the room when applied). */
export function parseUpdate(b: Args): PropertyUpdate {
  const update: PropertyUpdate = {};
  if (b.set !== undefined) {
    if (!isMsgpackMap(b.set)) fail(RoomErrorCode.Invalid, 'set must be a map');
    update.set = b.set;
  }
  if (b.increment !== undefined) {
    if (!isMsgpackMap(b.increment))
      fail(RoomErrorCode.Invalid, 'increment must be a map of numbers');
    for (const [key, delta] of Object.entries(b.increment)) {
      if (typeof delta !== 'number' || !Number.isFinite(delta))
        fail(RoomErrorCode.Invalid, `increment.${key} must be a finite number`);
    }
    update.increment = b.increment as Record<string, number>;
  }
  if (b.compareAndSet !== undefined) {
    const cas = b.compareAndSet;
    if (!isMsgpackMap(cas) || typeof cas.key !== 'string')
      fail(RoomErrorCode.Invalid, 'compareAndSet must be { key, expected, value }');
    update.compareAndSet = { key: cas.key, expected: cas.expected, value: cas.value };
  }
  if (
    update.set === undefined &&
    update.increment === undefined &&
    update.compareAndSet === undefined
  )
    fail(RoomErrorCode.Invalid, 'an update needs set, increment or compareAndSet');
  return update;
}
