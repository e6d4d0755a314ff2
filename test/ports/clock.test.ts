/**
 * The Clock port: systemClock (src/adapters/memory/clock.ts) keeps real time and real timers;
 * XState's SimulatedClock, the tests' clock, fits the port (checked by the compiler).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';
import { systemClock } from '../../src/adapters/memory/clock.ts';
import type { Clock } from '../../src/ports.ts';

// Type-level: SimulatedClock is a Clock (this line fails `npm run typecheck` otherwise).
const simulated: Clock = new SimulatedClock() satisfies Clock;

test('systemClock: now is Date.now; a timer fires; a cleared timer does not', async () => {
  const before = Date.now();
  const now = systemClock.now();
  assert.ok(now >= before && now <= Date.now());
  const fired: string[] = [];
  await new Promise<void>((resolve) => {
    const cleared = systemClock.setTimeout(() => fired.push('cleared'), 1);
    systemClock.clearTimeout(cleared);
    systemClock.setTimeout(() => (fired.push('fired'), resolve()), 5);
  });
  assert.equal(fired, ['fired']);
});

test('SimulatedClock through the Clock port: timers fire as the clock moves, not before', () => {
  const clock = new SimulatedClock();
  const port: Clock = clock;
  const fired: number[] = [];
  port.setTimeout(() => fired.push(10), 10);
  const id = port.setTimeout(() => fired.push(20), 20);
  port.setTimeout(() => fired.push(30), 30);
  port.clearTimeout(id);
  clock.increment(15);
  assert.equal(fired, [10]);
  assert.is(port.now(), 15);
  clock.increment(15);
  assert.equal(fired, [10, 30]);
  assert.is(simulated.now(), 0);
});

test.run();
