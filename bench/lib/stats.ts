/** Percentiles and small number helpers of the bench. */

export interface Latency {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of `values` (ms), rounded to µs. An empty list gives zeros. */
export function latency(values: readonly number[]): Latency {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const at = (p: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!);
  const mean = n === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / n;
  return { n, p50: round(at(50), 3), p95: round(at(95), 3), p99: round(at(99), 3), max: round(at(100), 3), mean: round(mean, 3) };
}

export const round = (x: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** x / y, or 0 when y is 0. */
export const ratio = (x: number, y: number, digits = 3): number => (y === 0 ? 0 : round(x / y, digits));

/** Runs `work(i)` for i in 0..n-1 with at most `concurrency` at once; resolves with the results in order. */
export async function pool<T>(n: number, concurrency: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < n; i = next++) out[i] = await work(i);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, lane));
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface SoakSample {
  seconds: number;
  logins: number;
  errors: number;
  rss: number;
  heapUsed: number;
  liveSessions: number;
  fds: number;
}

/**
 * What a soak's samples say once it is warm: after three limits (the first logins have been
 * authenticated, logged out and gone, and the first minute's overshoot — a fresh server is
 * faster — has expired too), the growth per minute of each figure by least squares, and the
 * heap at the end ÷ the heap then.
 */
export function soakGrowth(samples: readonly SoakSample[], limitSeconds: number) {
  const warm = samples.filter((s) => s.seconds >= 3 * limitSeconds);
  const slope = (pick: (s: SoakSample) => number) => {
    if (warm.length < 2) return 0;
    const mx = warm.reduce((a, s) => a + s.seconds, 0) / warm.length;
    const my = warm.reduce((a, s) => a + pick(s), 0) / warm.length;
    const sxy = warm.reduce((a, s) => a + (s.seconds - mx) * (pick(s) - my), 0);
    const sxx = warm.reduce((a, s) => a + (s.seconds - mx) ** 2, 0);
    return sxx ? (sxy / sxx) * 60 : 0;
  };
  const first = warm[0] ?? samples[0]!;
  const last = samples.at(-1)!;
  return {
    afterWarmUp: { fromSeconds: first.seconds, samples: warm.length },
    /** least-squares growth after the warm-up, per minute */
    growthPerMinute: {
      heapBytes: Math.round(slope((s) => s.heapUsed)),
      rssBytes: Math.round(slope((s) => s.rss)),
      liveSessions: round(
        slope((s) => s.liveSessions),
        1,
      ),
      fds: round(
        slope((s) => s.fds),
        1,
      ),
    },
    /** heap at the end ÷ heap when the warm-up ended */
    heapEndVsWarm: round(last.heapUsed / first.heapUsed, 3),
  };
}
