/** A session ticket handed out by the HTTP endpoint and consumed by the hello. */
export interface SessionTicket {
  /** Session id, 32 hex characters (16 random bytes). */
  sid: string;
  /** Session key, 32 hex characters (16 random bytes); encrypts the session when enabled. */
  key: string;
  userId: string;
  /** The node the ticket was issued for. */
  nodeId: string;
  transport: 'tcp' | 'udp';
  /** Expiry, ms since epoch. */
  expiresAt: number;
}

/** Where tickets live: this process by default, the cluster mesh when there is one. */
export interface TicketStore {
  issueTicket(ticket: SessionTicket, ttlMs: number): Promise<void>;
  /** Returns the ticket and deletes it (single use); null when unknown, used or expired. */
  consumeTicket(sid: string): Promise<SessionTicket | null>;
  /** Returns the ticket without consuming it; null when unknown, used or expired. */
  peekTicket?(sid: string): Promise<SessionTicket | null>;
}
