import { describe, expect, it } from 'vitest';
import { parseHostPort } from '../src/index.ts';

describe('parseHostPort', () => {
  it('splits host:port and bracketed IPv6, and refuses anything else', () => {
    expect(parseHostPort('203.0.113.5:7200')).toEqual({ host: '203.0.113.5', port: 7200 });
    expect(parseHostPort('play.example.com:0')).toEqual({ host: 'play.example.com', port: 0 });
    expect(parseHostPort('[2001:db8::1]:7100')).toEqual({ host: '2001:db8::1', port: 7100 });
    for (const bad of [
      '',
      'host',
      ':7200',
      'host:',
      'host:65536',
      'host:99999',
      '2001:db8::1:7100',
      'a:b:1',
      'host:12a',
    ]) {
      expect(parseHostPort(bad), bad).toBeNull();
    }
  });
});
