/**
 * Loaded into the NS process by the bench driver (`node --expose-gc --import tsx --import
 * ./bench/probe.ts src/cli/cli.ts start …`). It changes nothing in the server: it only answers the
 * driver's IPC `sample` messages with `process.cpuUsage()` and `process.memoryUsage()` (after a
 * full GC when asked, so heap figures do not depend on when V8 last collected), and stops the
 * server when the driver goes away.
 */
interface SampleRequest {
  probe: 'sample';
  id: number;
  gc?: boolean;
}

if (process.send) {
  process.on('message', (m: SampleRequest) => {
    if (m?.probe !== 'sample') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (m.gc && gc) {
      gc();
      gc();
    }
    process.send!({ probe: 'sample', id: m.id, cpu: process.cpuUsage(), mem: process.memoryUsage() });
  });
  // The driver died or let go: stop like a SIGTERM would.
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.channel?.unref();
}
