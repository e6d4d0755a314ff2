/**
 * The real PostgreSQL and Redis the cluster tests use (127.0.0.1:5432 database `test`, trust
 * auth; 127.0.0.1:6379), or a one-line reason why a file skips them. Under `CI=true` a skip is a
 * failure: CI starts both services (.ci/run), so a missing one is a broken machine, not a pass.
 *
 *   const pg = await service('postgres');   // the URL, or undefined (the skip line is printed)
 *   if (pg) storeContract('postgres', …);    // skipped: no test registered, uvu still reports
 *   test.run();
 */
import net from 'node:net';

export const SERVICE_URLS = {
  postgres: process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  redis: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
} as const;
export type ServiceName = keyof typeof SERVICE_URLS;

/** Whether something accepts TCP connections at the URL's host and port (within `ms`). */
function reachable(url: string, ms = 2000): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol.startsWith('redis') ? 6379 : 5432));
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The service's URL when it is reachable. Otherwise prints why the file's tests are skipped
 * (one line) and resolves undefined; with `CI=true` it throws instead (a skip is a failure there).
 */
export async function service(name: ServiceName): Promise<string | undefined> {
  const url = SERVICE_URLS[name];
  if (await reachable(url)) return url;
  const why = `${name} is not reachable at ${new URL(url).host} (start it: see .ci/run)`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${why}: its tests cannot be skipped in CI`);
  console.log(`skipped: ${why}`);
  return undefined;
}

/** A name unique to this test process, for a database or a key prefix runs never share. */
export function runName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
