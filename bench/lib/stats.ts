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
