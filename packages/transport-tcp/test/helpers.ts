import { once } from 'node:events';
import * as net from 'node:net';
import { type Frame, FrameDecoder } from '@tidewire/wire';
import type { CloseInfo, TcpConnection } from '../src/index.ts';

/** A plain node:net client that records the frames it receives. */
export interface RawClient {
  socket: net.Socket;
  frames: Frame[];
  /** Resolves when the socket has closed. */
  closed: Promise<void>;
}

export async function rawClient(
  port: number,
  options: { allowHalfOpen?: boolean } = {},
): Promise<RawClient> {
  const socket = net.connect({
    host: '127.0.0.1',
    port,
    allowHalfOpen: options.allowHalfOpen ?? false,
  });
  await once(socket, 'connect');
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk, (frame) => {
      frames.push({ ...frame, payload: Buffer.from(frame.payload) });
    });
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, frames, closed };
}

/** Resolves with the CloseInfo of `connection`, installing `onClose`. */
export function closeInfoOf(connection: TcpConnection): Promise<CloseInfo> {
  return new Promise((resolve) => {
    connection.onClose = resolve;
  });
}

/** Polls `check` every 5 ms until it is true; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function nextTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
