import type { SessionTicket, TicketStore } from './tickets.ts';

/** Tickets in this process: the embedded default when no cluster mesh is configured. */
export class MemoryTicketStore implements TicketStore {
  readonly #tickets = new Map<string, SessionTicket>();
  #sweep: NodeJS.Timeout | null = null;

  async issueTicket(ticket: SessionTicket, ttlMs: number): Promise<void> {
    this.#tickets.set(ticket.sid, {
      ...ticket,
      expiresAt: Math.min(ticket.expiresAt, Date.now() + ttlMs),
    });
    this.#sweep ??= setInterval(() => this.#expire(), 1000).unref();
  }

  async consumeTicket(sid: string): Promise<SessionTicket | null> {
    const ticket = await this.peekTicket(sid);
    if (ticket !== null) this.#tickets.delete(sid);
    return ticket;
  }

  async peekTicket(sid: string): Promise<SessionTicket | null> {
    const ticket = this.#tickets.get(sid);
    if (ticket === undefined) return null;
    if (ticket.expiresAt <= Date.now()) {
      this.#tickets.delete(sid);
      return null;
    }
    return ticket;
  }

  #expire(): void {
    const now = Date.now();
    for (const [sid, ticket] of this.#tickets)
      if (ticket.expiresAt <= now) this.#tickets.delete(sid);
    if (this.#tickets.size === 0 && this.#sweep !== null) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  }
}
