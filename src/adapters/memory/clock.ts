/**
 * The real clock: `Date.now`, `setTimeout`, `clearTimeout`. Tests use XState's SimulatedClock,
 * which fits the same `Clock` port (test/ports/clock.test.ts checks it).
 */
import type { Clock } from '../../ports.ts';

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};
