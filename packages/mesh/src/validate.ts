import { MeshErrorCode, meshError } from './errors.ts';
import type { NodeRegistration, NodeRole, ServerState, SessionTicket } from './types.ts';

const NODE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ROLES: ReadonlySet<string> = new Set<NodeRole>(['http', 'tcp', 'udp', 'ws', 'connector']);
const STATES: ReadonlySet<string> = new Set<ServerState>(['ONLINE', 'TAKEN', 'OFFLINE']);

function invalid(message: string): never {
  throw meshError(MeshErrorCode.InvalidArgument, message);
}

export function isNodeId(value: unknown): value is string {
  return typeof value === 'string' && NODE_ID.test(value);
}

export function assertNodeId(value: unknown, what = 'nodeId'): asserts value is string {
  if (!isNodeId(value)) invalid(`${what} must be 1-128 characters of A-Z a-z 0-9 . _ : -`);
}

export function assertText(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) {
    invalid(`${what} must be a non-empty string of at most 1024 characters`);
  }
}

export function assertRole(value: unknown): asserts value is NodeRole {
  if (typeof value !== 'string' || !ROLES.has(value)) invalid(`unknown role ${String(value)}`);
}

export function assertState(value: unknown): asserts value is ServerState {
  if (typeof value !== 'string' || !STATES.has(value)) invalid(`unknown state ${String(value)}`);
}

export function assertCount(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    invalid(`${what} must be a finite number >= 0`);
  }
}

export function assertPort(value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    invalid('publicPort must be an integer from 0 to 65535');
  }
}

export function assertDuration(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    invalid(`${what} must be a positive integer of milliseconds`);
  }
}

export function assertMeta(value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid('meta must be an object');
  for (const v of Object.values(value)) {
    if (typeof v !== 'string') invalid('meta values must be strings');
  }
}

export function assertVerCmd(ver: unknown, cmd: unknown): void {
  if (typeof ver !== 'number' || !Number.isInteger(ver) || ver < 0 || ver > 0xff) {
    invalid('ver must be an integer from 0 to 255');
  }
  if (typeof cmd !== 'number' || !Number.isInteger(cmd) || cmd < 0 || cmd > 0xffff) {
    invalid('cmd must be an integer from 0 to 65535');
  }
}

export function assertBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) invalid(`${what} must be a Uint8Array`);
}

export function assertRegistration(info: NodeRegistration): void {
  if (typeof info !== 'object' || info === null) invalid('node info must be an object');
  assertNodeId(info.id, 'id');
  assertRole(info.role);
  if (typeof info.internalAddress !== 'string') invalid('internalAddress must be a string');
  if (typeof info.publicHost !== 'string') invalid('publicHost must be a string');
  assertPort(info.publicPort);
  assertState(info.state);
  assertCount(info.ccu, 'ccu');
  assertCount(info.load, 'load');
  assertMeta(info.meta);
}

export function assertTicket(ticket: SessionTicket): void {
  if (typeof ticket !== 'object' || ticket === null) invalid('ticket must be an object');
  assertText(ticket.sid, 'sid');
  if (typeof ticket.key !== 'string') invalid('ticket key must be a string');
  assertText(ticket.userId, 'userId');
  assertNodeId(ticket.nodeId, 'ticket nodeId');
  if (ticket.transport !== 'tcp' && ticket.transport !== 'udp' && ticket.transport !== 'ws')
    invalid('transport must be tcp, udp or ws');
  assertCount(ticket.expiresAt, 'expiresAt');
}
