import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseHost, parseIpAddress } from '../src/index.ts';

describe('address validation', () => {
  it('accepts exactly one IP literal, trimmed', () => {
    expect(parseIpAddress(' 203.0.113.5\n')).toBe('203.0.113.5');
    expect(parseIpAddress('2001:DB8::1')).toBe('2001:db8::1');
    expect(parseIpAddress('203.0.113.5/32')).toBeUndefined();
    expect(parseIpAddress('203.0.113.5/32', true)).toBe('203.0.113.5');
    for (const bad of [
      '',
      '0.0.0.0',
      '::',
      '1.2.3',
      '1.2.3.4 5.6.7.8',
      '<html>',
      '256.1.1.1',
      '1.2.3.4/abc',
    ]) {
      expect(parseIpAddress(bad, true)).toBeUndefined();
    }
  });

  it('round-trips every generated IPv4 and IPv6 (except unspecified) and rejects them wrapped in text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const unspecified = ip === '0.0.0.0' || /^[0:]+$/.test(ip);
        expect(parseIpAddress(ip) === undefined).toBe(unspecified);
        expect(parseIpAddress(`ip=${ip}`)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('normalises host names and IPs, refusing URLs and host:port', () => {
    expect(normaliseHost('Game.Example.COM.')).toBe('game.example.com');
    expect(normaliseHost('[::1]')).toBe('::1');
    for (const bad of ['http://x', 'x:1', '-x.com', 'a..b', '1.2.3', 'a'.repeat(64)]) {
      expect(normaliseHost(bad)).toBeUndefined();
    }
  });
});
