import { DATA_HEADER_SIZE } from './packets.ts';

/**
 * Bytes before a packet's units in the buffer handed to `transmit`: room for
 * the owner's datagram header, written in place (no copy of the packet).
 */
export const PACKET_HEADER_ROOM: number = DATA_HEADER_SIZE;

/**
 * One packet buffer for every session of the process, `units` being its part
 * from PACKET_HEADER_ROOM on: a packet is assembled there and handed to
 * `transmit` synchronously, so sessions never hold it across turns (a
 * datagram's worth of memory per process, not per connection). An owner
 * that keeps it (its socket queued the send) makes the next packet go to a
 * new buffer.
 */
let packetBuffer = Buffer.allocUnsafeSlow(PACKET_HEADER_ROOM);
let units = packetBuffer.subarray(PACKET_HEADER_ROOM);

/** The buffer a packet is assembled in, header room included. */
export function packet(): Buffer {
  return packetBuffer;
}

/** The units part of `packet()`: where the parts of a session write. */
export function packetUnits(): Buffer {
  return units;
}

/** Makes sure the packet buffer holds `bodyBudget` bytes of units. */
export function reservePacketUnits(bodyBudget: number): void {
  if (units.length < bodyBudget) newPacketBuffer(bodyBudget);
}

/** The owner kept the packet buffer: the next packet goes to a new one of the same size. */
export function replacePacketBuffer(): void {
  newPacketBuffer(units.length);
}

function newPacketBuffer(bodyBudget: number): void {
  packetBuffer = Buffer.allocUnsafeSlow(PACKET_HEADER_ROOM + bodyBudget);
  units = packetBuffer.subarray(PACKET_HEADER_ROOM);
}
