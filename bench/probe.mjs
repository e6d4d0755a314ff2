/**
 * Loaded into the NS process by the bench driver (`node --expose-gc --import ./bench/probe.mjs
 * dist/server/cli.js start …`: the compiled server, as `npm start` runs it; plain JavaScript, so no
 * loader and no child of one sits in the measured process tree). It changes nothing in the server: it only answers the
 * driver's IPC `sample` messages with `process.cpuUsage()` and `process.memoryUsage()` (after a
 * full GC when asked, so heap figures do not depend on when V8 last collected), and stops the
 * server when the driver goes away.
 */
if (process.send) {
  process.on('message', (/** @type {{ probe?: string, id: number, gc?: boolean }} */ m) => {
    if (m?.probe !== 'sample') return;
    const gc = /** @type {{ gc?: () => void }} */ (globalThis).gc;
    if (m.gc && gc) {
      gc();
      gc();
    }
    process.send?.({ probe: 'sample', id: m.id, cpu: process.cpuUsage(), mem: process.memoryUsage() });
  });
  // The driver died or let go: stop like a SIGTERM would.
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.channel?.unref();
}
