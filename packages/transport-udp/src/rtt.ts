/** The RTO floor learnt from a late ACK (see `raiseStallFloor`) is this many times its lateness... */
const STALL_FLOOR_MARGIN = 1.25;
/** ...and keeps this share of itself at each RTT sample (it halves in about 70 samples). */
const STALL_FLOOR_DECAY = 0.99;

/** What the estimator needs of the session's options. */
export interface RttOptions {
  minRtoMs: number;
  maxRtoMs: number;
  initialRtoMs: number;
  initialRttMs: number;
  peerAckDelayMs: number;
}

/**
 * Smoothed RTT and the retransmission timeout (RFC 6298), plus a floor under
 * the RTO learnt from late ACKs. The peer may hold its ACK up to its
 * `ackDelayMs`: the RTO includes it.
 */
export class RttEstimator {
  readonly #options: RttOptions;
  /** Smoothed RTT, or -1 before the first sample. */
  srtt = -1;
  rttvar = 0;
  latestRtt = 0;
  rto: number;
  /**
   * A floor under the RTO learnt from late ACKs. A packet declared lost and
   * then acknowledged after all, in a packet that follows the peer's
   * previous one without a gap, was not lost and neither was an ACK of it
   * (that would leave a gap): its ACK came late, because the peer's process
   * stalled (a busy event loop, a GC pause) or the path slowed. The floor
   * is raised to STALL_FLOOR_MARGIN times that lateness (at most
   * `initialRtoMs`) and decays at each RTT sample, so that a peer that
   * keeps stalling is not sent every answer twice. A lost ACK does not
   * raise it: loss recovery keeps the short RTO.
   */
  stallFloor = 0;

  constructor(options: RttOptions) {
    this.#options = options;
    this.rto = options.initialRtoMs + options.peerAckDelayMs;
    if (options.initialRttMs >= 0) this.sample(options.initialRttMs);
  }

  sample(rtt: number): void {
    if (this.srtt < 0) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
      this.latestRtt = rtt;
    } else {
      this.latestRtt = rtt;
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt);
      this.srtt = 0.875 * this.srtt + 0.125 * rtt;
    }
    const options = this.#options;
    const rto = this.srtt + Math.max(1, 4 * this.rttvar);
    this.stallFloor *= STALL_FLOOR_DECAY;
    const floor = Math.max(options.minRtoMs, this.stallFloor);
    // the peer may hold its ACK up to its ackDelayMs: wait that much longer
    this.rto = Math.min(options.maxRtoMs, Math.max(floor, rto)) + options.peerAckDelayMs;
  }

  /** An RTO expired: back off. */
  backOff(): void {
    this.rto = Math.min(this.rto * 2, this.#options.maxRtoMs + this.#options.peerAckDelayMs);
  }

  /** An ACK came `lateMs` after its packet left, without a gap before it (see `stallFloor`). */
  raiseStallFloor(lateMs: number): void {
    const floor = Math.min(
      STALL_FLOOR_MARGIN * (lateMs - this.#options.peerAckDelayMs),
      this.#options.initialRtoMs,
    );
    if (floor > this.stallFloor) this.stallFloor = floor;
  }
}
