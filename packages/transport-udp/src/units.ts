/** Unit kinds inside a DATA body (docs/protocol.md section 11.4). */
export const UnitKind = {
  Reliable: 0x01,
  ReliableMore: 0x81,
  Unreliable: 0x02,
  UnreliableFragment: 0x03,
  Ack: 0x05,
  Ping: 0x06,
  Fin: 0x07,
} as const;

/** kind + seq u32 + length u16 */
export const RELIABLE_UNIT_OVERHEAD = 7;
/** kind + length u16 */
export const UNRELIABLE_UNIT_OVERHEAD = 3;
/** kind + messageId u16 + index u16 + count u16 + length u16 */
export const FRAGMENT_UNIT_OVERHEAD = 9;
/** kind + ackDelay u16 + rangeCount u8 */
export const ACK_UNIT_OVERHEAD = 4;
export const ACK_RANGE_SIZE = 8;
export const MAX_ACK_RANGES = 32;
/** Ranges an ACK carries when it shares a packet with data; pieces are sized to leave this room. */
export const ACK_RANGES_WITH_DATA = 4;
export const ACK_RESERVE: number = ACK_UNIT_OVERHEAD + ACK_RANGES_WITH_DATA * ACK_RANGE_SIZE;

/** Bytes a FIN unit with this code and reason takes (reason truncated to fit `budget`). */
export function writeFin(target: Buffer, offset: number, code: string, reason: string): number {
  const start = offset;
  target[offset++] = UnitKind.Fin;
  const codeLength = target.write(
    code,
    offset + 1,
    Math.min(255, target.length - offset - 1),
    'utf8',
  );
  target[offset] = codeLength;
  offset += 1 + codeLength;
  const room = Math.max(0, Math.min(target.length - offset - 2, 0xffff));
  const reasonLength = target.write(reason, offset + 2, room, 'utf8');
  target.writeUInt16BE(reasonLength, offset);
  offset += 2 + reasonLength;
  return offset - start;
}

/** Upper bound of the bytes `writeFin` needs. */
export function finSize(code: string, reason: string): number {
  return 4 + Buffer.byteLength(code) + Buffer.byteLength(reason);
}
