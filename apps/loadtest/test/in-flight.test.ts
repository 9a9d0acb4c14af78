import { describe, expect, it } from 'vitest';
import { InFlightRequests } from '../src/in-flight.ts';

describe('InFlightRequests', () => {
  it('numbers requests in send order and matches answers by number, in any order', () => {
    const f = new InFlightRequests(2);
    for (let i = 0; i < 10; i++) expect(f.push(100 + i)).toBe(i);
    expect(f.size).toBe(10);
    expect(f.take(3)).toBe(103);
    expect(f.take(3)).toBeUndefined(); // answered already
    expect(f.take(0)).toBe(100);
    expect(f.take(10)).toBeUndefined(); // never sent
    expect(f.take(-1)).toBeUndefined();
    expect(f.size).toBe(8);
    expect(f.shift()).toBe(101); // the oldest unanswered
    expect(f.shift()).toBe(102);
    expect(f.shift()).toBe(104); // 3 was answered
    expect(f.push(200)).toBe(10); // numbering goes on
    expect(f.size).toBe(6);
  });

  it('drops the unanswered requests older than an answered one, and only those', () => {
    const f = new InFlightRequests();
    for (let i = 0; i < 8; i++) f.push(i);
    expect(f.take(2)).toBe(2);
    expect(f.dropBefore(5)).toBe(4); // 0, 1, 3, 4
    expect(f.take(4)).toBeUndefined();
    expect(f.take(5)).toBe(5);
    expect(f.dropBefore(5)).toBe(0);
    expect(f.size).toBe(2);
    f.clear();
    expect(f.size).toBe(0);
    expect(f.shift()).toBeUndefined();
    expect(f.push(9)).toBe(8);
  });

  it('keeps matching across growth and wrap-around of its ring', () => {
    const f = new InFlightRequests(4);
    let next = 0;
    const open: number[] = [];
    for (let round = 0; round < 200; round++) {
      // send 3, answer 2 (the newest first), so the set grows slowly and wraps
      for (let k = 0; k < 3; k++) open.push(f.push(next++ * 10));
      for (const n of [open.pop()!, open.shift()!]) expect(f.take(n)).toBe(n * 10);
    }
    expect(f.size).toBe(open.length);
    for (const n of open) expect(f.take(n)).toBe(n * 10);
    expect(f.size).toBe(0);
  });
});
