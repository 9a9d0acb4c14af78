import { pack } from '@tidewire/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  type Envelope,
  EnvelopeKind,
  encodeEnvelope,
  MalformedEnvelope,
} from '../src/envelope.ts';
import { pickNode } from '../src/select.ts';
import type { NodeInfo } from '../src/types.ts';

const from = fc.string({ minLength: 1, maxLength: 20 });
const payload = fc.uint8Array({ maxLength: 300 });

const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  fc.record({
    kind: fc.constant(EnvelopeKind.Message),
    from,
    topic: fc.string({ maxLength: 20 }),
    payload,
  }),
  fc.record({
    kind: fc.constant(EnvelopeKind.UserRequest),
    from,
    requestId: fc.nat(),
    userId: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: null }),
    sid: fc.string({ minLength: 1, maxLength: 40 }),
    ver: fc.integer({ min: 0, max: 255 }),
    cmd: fc.integer({ min: 0, max: 65535 }),
    payload,
  }),
  fc.record({
    kind: fc.constant(EnvelopeKind.Ack),
    from,
    requestId: fc.nat(),
    status: fc.constantFrom(0 as const, 1 as const, 2 as const),
  }),
);

function normalise(value: Envelope): unknown {
  return 'payload' in value ? { ...value, payload: Buffer.from(value.payload) } : value;
}

describe('bus envelopes', () => {
  it('decode(encode(e)) gives e back', () => {
    fc.assert(
      fc.property(envelope, (e) => {
        expect(normalise(decodeEnvelope(encodeEnvelope(e)))).toEqual(normalise(e));
      }),
      { numRuns: 300 },
    );
  });

  it('any bytes decode to a valid envelope or throw MalformedEnvelope, nothing else', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.anything().map((value) => pack(value)),
          fc
            .array(fc.oneof(fc.integer(), fc.string(), fc.uint8Array(), fc.constant(null)), {
              maxLength: 9,
            })
            .map((items) => pack(items)),
        ),
        (data) => {
          try {
            const decoded = decodeEnvelope(data);
            expect([1, 2, 3]).toContain(decoded.kind);
            expect(typeof decoded.from).toBe('string');
          } catch (err) {
            expect(err).toBeInstanceOf(MalformedEnvelope);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('pickNode', () => {
  const node = (id: string, over: Partial<NodeInfo>): NodeInfo => ({
    id,
    role: 'tcp',
    internalAddress: '',
    publicHost: '',
    publicPort: 0,
    state: 'ONLINE',
    ccu: 0,
    load: 0,
    updatedAt: 0,
    ...over,
  });

  it('returns the minimum of (load, ccu + pending, id) among ONLINE nodes of the role', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.string({ minLength: 1, maxLength: 4 }),
            role: fc.constantFrom('tcp' as const, 'udp' as const),
            state: fc.constantFrom('ONLINE' as const, 'TAKEN' as const, 'OFFLINE' as const),
            ccu: fc.nat(5),
            load: fc.constantFrom(0, 0.25, 0.5),
            pending: fc.nat(3),
          }),
          { maxLength: 8 },
        ),
        (specs) => {
          const nodes = specs.map((s) => node(s.id, s));
          const pending = new Map(nodes.map((n, i) => [n, specs[i]!.pending]));
          const picked = pickNode(nodes, 'tcp', (n) => pending.get(n) ?? 0);
          const eligible = nodes.filter((n) => n.role === 'tcp' && n.state === 'ONLINE');
          if (eligible.length === 0) {
            expect(picked).toBeNull();
            return;
          }
          const key = (n: NodeInfo): [number, number, string] => [
            n.load,
            n.ccu + pending.get(n)!,
            n.id,
          ];
          const best = [...eligible].sort((a, b) => {
            const [la, ua, ia] = key(a);
            const [lb, ub, ib] = key(b);
            return la - lb || ua - ub || (ia < ib ? -1 : ia > ib ? 1 : 0);
          })[0]!;
          expect(key(picked!)).toEqual(key(best));
        },
      ),
      { numRuns: 300 },
    );
  });
});
