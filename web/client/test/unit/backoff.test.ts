import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/backoff';

describe('backoffDelay', () => {
  it('doubles from 1 s up to 30 s, as the product document says', () => {
    const mid = () => 0.5; // no jitter
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((a) => backoffDelay(a, {}, mid))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });

  it('spreads clients with +/- 20 % jitter', () => {
    expect(backoffDelay(2, {}, () => 0)).toBe(3200);
    expect(backoffDelay(2, {}, () => 1)).toBe(4800);
    expect(backoffDelay(0, { jitter: 0 }, Math.random)).toBe(1000);
  });

  it('takes other bounds', () => {
    expect(backoffDelay(3, { initialMs: 100, maxMs: 500, jitter: 0 })).toBe(500);
  });
});
