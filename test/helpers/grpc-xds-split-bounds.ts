/**
 * How many of `calls` calls a weighted split with probability `share` may send to one side before the
 * split is wrong: the range a Binomial(calls, share) count leaves with probability at most
 * `maxFalseFailure` (half on each side), from the exact distribution. A test that asserts the count is
 * within it fails by chance at most that often.
 */
export function binomialRange(
  calls: number,
  share: number,
  maxFalseFailure: number,
): { low: number; high: number } {
  if (!(share > 0 && share < 1)) throw new Error(`share must be strictly between 0 and 1, not ${share}`);
  const logFactorials = [0];
  for (let k = 1; k <= calls; k++) logFactorials.push(logFactorials[k - 1] + Math.log(k));
  const probability = (k: number) =>
    Math.exp(
      logFactorials[calls] -
        logFactorials[k] -
        logFactorials[calls - k] +
        k * Math.log(share) +
        (calls - k) * Math.log1p(-share),
    );
  const perTail = maxFalseFailure / 2;
  let low = 0;
  for (let below = probability(0); below <= perTail; below += probability(low)) low++;
  let high = calls;
  for (let above = probability(calls); above <= perTail; above += probability(high)) high--;
  return { low, high };
}
