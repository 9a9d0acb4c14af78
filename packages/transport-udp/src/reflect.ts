import type { Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { TidewireError } from '@tidewire/wire';

/**
 * Address reflection (protocol section 11.10), for peer-to-peer: a client
 * asks the server which public address and port its datagrams come from (the
 * NAT mapping of that socket). REFLECT is 64 bytes (type, 8-byte nonce, zero
 * padding); REFLECTED is 28 (type, nonce, family, port, 16-byte address): the
 * answer is smaller than the question and the server keeps no state.
 */
export const REFLECT = 0x20;
export const REFLECTED = 0x21;
export const REFLECT_SIZE = 64;
export const REFLECTED_SIZE = 28;

export function encodeReflect(nonce: Buffer): Buffer {
  const packet = Buffer.alloc(REFLECT_SIZE);
  packet[0] = REFLECT;
  nonce.copy(packet, 1, 0, 8);
  return packet;
}

/** The nonce of a well-formed REFLECT, or null. */
export function decodeReflect(packet: Buffer): Buffer | null {
  if (packet.length !== REFLECT_SIZE || packet[0] !== REFLECT) return null;
  return packet.subarray(1, 9);
}

export function encodeReflected(nonce: Buffer, address: string, port: number): Buffer {
  const packet = Buffer.alloc(REFLECTED_SIZE);
  packet[0] = REFLECTED;
  nonce.copy(packet, 1, 0, 8);
  const v4 = isIPv4(address);
  packet[9] = v4 ? 4 : 6;
  packet.writeUInt16BE(port, 10);
  if (v4) {
    const parts = address.split('.').map(Number);
    packet.set(parts, 12);
  } else {
    Buffer.from(expandIPv6(address)).copy(packet, 12);
  }
  return packet;
}

export function decodeReflected(
  packet: Buffer,
): { nonce: Buffer; address: string; port: number } | null {
  if (packet.length !== REFLECTED_SIZE || packet[0] !== REFLECTED) return null;
  const family = packet[9];
  const port = packet.readUInt16BE(10);
  let address: string;
  if (family === 4) address = [...packet.subarray(12, 16)].join('.');
  else if (family === 6) {
    const groups: string[] = [];
    for (let i = 12; i < 28; i += 2) groups.push(packet.readUInt16BE(i).toString(16));
    address = groups.join(':');
  } else return null;
  return { nonce: packet.subarray(1, 9), address, port };
}

function expandIPv6(address: string): number[] {
  const [head = '', tail = ''] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const bytes: number[] = [];
  for (const g of groups) {
    const v = Number.parseInt(g, 16);
    bytes.push(v >> 8, v & 0xff);
  }
  return bytes;
}

/**
 * Asks the server at `host:port` which address `socket` is seen from. The
 * socket must be unconnected; retries every 100 ms until `timeoutMs`.
 */
export async function reflectAddress(
  socket: Socket,
  host: string,
  port: number,
  timeoutMs = 2_000,
): Promise<{ address: string; port: number }> {
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(8)));
  const request = encodeReflect(nonce);
  return new Promise((resolve, reject) => {
    const onMessage = (msg: Buffer): void => {
      const answer = decodeReflected(msg);
      if (answer === null || !answer.nonce.equals(nonce)) return;
      done();
      resolve({ address: answer.address, port: answer.port });
    };
    const send = (): void => socket.send(request, port, host);
    const retry = setInterval(send, 100);
    const timer = setTimeout(() => {
      done();
      reject(
        new TidewireError(
          'TIDEWIRE_ERR_REFLECT_TIMEOUT',
          `no REFLECTED from ${host}:${port} within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    const done = (): void => {
      clearInterval(retry);
      clearTimeout(timer);
      socket.off('message', onMessage);
    };
    socket.on('message', onMessage);
    send();
  });
}
