import { createActor } from 'xstate';
import { sessionMachine } from '../../machines/session.ts';
import { Inspector } from '../../src/inspect/inspector.ts';
const limits = { challenge: 1e6, idle: 1e6, session: 1e6, maxFailures: 2, lock: 1e6 };
const run = (withInspector: boolean) => {
  const inspector = new Inspector();
  global.gc!();
  const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const t = Date.now();
  const actors = [];
  for (let i = 0; i < 2000; i++) {
    const a = createActor(sessionMachine, { input: { serverid: 's', hsid: 'h' + i, limits }, ...(withInspector ? { inspect: (e) => inspector.observe(e) } : {}) });
    a.start();
    for (let j = 0; j < 150; j++) a.send({ type: 'setContext', userContext: {} });
    actors.push(a);
  }
  const ms = Date.now() - t;
  global.gc!();
  const mb = (process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - before) / 1e6;
  console.log(withInspector ? 'inspector' : 'none     ', ms, 'ms', mb.toFixed(1), 'MB', inspector.size);
  actors.forEach((a) => a.stop());
};
run(false); run(true); run(false); run(true);
