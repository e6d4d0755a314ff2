/**
 * What the live inspector's log costs per login, in this process: the events the hub hands it for
 * one login (made, hello, proof, verified), for 10,000 sessions at a time as in a busy server.
 * Best of five rounds of 50,000 logins.
 *
 *   npx tsx bench/inspector-log.ts
 */
import type { AppliedEvent } from '../src/core/hub.ts';
import { Inspector } from '../src/inspect/inspector.ts';

const inspector = new Inspector();
const N = 50_000;
const login = (i: number): AppliedEvent[] => {
  const key = `server-1:hsid-${i}`;
  const base = { key, serverid: 'server-1', account: null, since: i, ended: false, created: false };
  return [
    { ...base, type: 'xstate.init', before: undefined, microsteps: [{ event: 'xstate.init', value: 'waiting', reenters: false }], value: 'waiting', created: true },
    { ...base, type: 'hello', before: 'waiting', microsteps: [{ event: 'hello', value: 'challenged', reenters: false }], value: 'challenged' },
    { ...base, type: 'proof', before: 'challenged', microsteps: [{ event: 'proof', value: 'verifying', reenters: false }], value: 'verifying' },
    {
      ...base,
      type: 'verified',
      before: 'verifying',
      microsteps: [{ event: 'verified', value: { authenticated: 'oneShot' }, reenters: false }],
      value: { authenticated: 'oneShot' },
      account: 1,
    },
  ];
};
const events = Array.from({ length: 1000 }, (_, i) => login(i));
let best = Number.POSITIVE_INFINITY;
for (let round = 0; round < 5; round++) {
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    const template = events[i % events.length]!;
    for (const a of template) inspector.applied({ ...a, key: `server-1:hsid-${round}-${i}` });
  }
  best = Math.min(best, ((performance.now() - t) * 1000) / N);
}
console.log(`the inspector's log: ${best.toFixed(1)} µs per login (${inspector.size} sessions kept; node ${process.version})`);
