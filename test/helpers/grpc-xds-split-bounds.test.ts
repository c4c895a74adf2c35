import { binomialRange } from './grpc-xds-split-bounds';

describe('binomialRange', () => {
  it('matches the exact tails of a small distribution', () => {
    // Binomial(10, 0.5): P(X < 2) = P(X > 8) = 11/1024 <= 0.025 < P(X < 3) = P(X > 7) = 56/1024.
    expect(binomialRange(10, 0.5, 0.05)).toEqual({ low: 2, high: 8 });
    const bothTails = 2 * (11 / 1024);
    expect(binomialRange(10, 0.5, bothTails * 1.001)).toEqual({ low: 2, high: 8 });
    expect(binomialRange(10, 0.5, bothTails * 0.999)).toEqual({ low: 1, high: 9 });
  });

  it('is skewed like the distribution and narrow enough to tell 80/20 from 50/50', () => {
    const { low, high } = binomialRange(500, 0.2, 1e-9);
    expect(low).toBeGreaterThan(0);
    expect(high).toBeLessThan(250);
    // The right tail of Binomial(500, 0.2) is longer than the left.
    expect(high - 100).toBeGreaterThan(100 - low);
  });

  it('refuses a share that leaves nothing to count', () => {
    expect(() => binomialRange(10, 1, 0.01)).toThrow('share must be strictly between 0 and 1');
  });
});
