/**
 * A load generator process (started by bench/run.ts with an IPC channel). It holds phones (the
 * SDK, with node:crypto) and browsers (text socket, socket.io) and runs the scenarios the driver
 * asks for, one command at a time: `{id, cmd, args}` → `{id, ok, result | error}`.
 */
import type { StoredAccount } from '../src/sdk/app.ts';
import { useNodeCryptoForTweetnacl } from './lib/fast-crypto.ts';
import { Rest } from './lib/rest.ts';
import { enrolBurst } from './scenarios/enrol-burst.ts';
import { IdleBrowsers, type BrowserKind } from './scenarios/idle-browsers.ts';
import { LoginStorm } from './scenarios/login-storm.ts';
import { PushRoundTrip } from './scenarios/push-round-trip.ts';

export interface GeneratorContext {
  /** http://host:port of the NS */
  url: string;
  /** ws://host:port/ns/sigmai */
  appUrl: string;
  serverid: string;
  apikey: string;
  rest: Rest;
}

export type Command =
  | { cmd: 'init'; args: { url: string; apikey: string; serverid: string } }
  | { cmd: 'enrol'; args: { n: number; concurrency: number } }
  | { cmd: 'storm-prepare'; args: { concurrency: number } }
  | { cmd: 'storm-run'; args: { seconds: number; rate?: number } }
  | { cmd: 'storm-release'; args?: undefined }
  | { cmd: 'idle-sessions'; args: { kind: BrowserKind; n: number; concurrency: number } }
  | { cmd: 'idle-connect'; args: { kind: BrowserKind; n: number; concurrency: number } }
  | { cmd: 'idle-close'; args?: undefined }
  | { cmd: 'push-prepare'; args: { concurrency: number } }
  | { cmd: 'push-run'; args: { seconds: number } }
  | { cmd: 'push-release'; args?: undefined };

useNodeCryptoForTweetnacl();

let ctx: GeneratorContext | undefined;
let accounts: StoredAccount[] = [];
let storm: LoginStorm | undefined;
let idle: IdleBrowsers | undefined;
let push: PushRoundTrip | undefined;

const need = (): GeneratorContext => {
  if (!ctx) throw new Error('init first');
  return ctx;
};

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'init': {
      const { url, apikey, serverid } = c.args;
      ctx = { url, apikey, serverid, appUrl: `${url.replace(/^http/, 'ws')}/ns/sigmai`, rest: new Rest(url, apikey) };
      return { pid: process.pid };
    }
    case 'enrol': {
      const { result, accounts: made } = await enrolBurst(need(), c.args);
      accounts = accounts.concat(made);
      return result;
    }
    case 'storm-prepare':
      storm ??= new LoginStorm(need());
      await storm.prepare(accounts, c.args.concurrency);
      return null;
    case 'storm-run':
      if (!storm) throw new Error('storm-prepare first');
      return storm.run(c.args.seconds, c.args.rate);
    case 'storm-release':
      await storm?.release();
      return null;
    case 'idle-sessions':
      idle ??= new IdleBrowsers(need());
      return idle.makeSessions(c.args.kind, c.args.n, c.args.concurrency);
    case 'idle-connect':
      if (!idle) throw new Error('idle-sessions first');
      return idle.connect(c.args.kind, c.args.n, c.args.concurrency);
    case 'idle-close':
      await idle?.close();
      return null;
    case 'push-prepare':
      push ??= new PushRoundTrip(need());
      await push.prepare(accounts, c.args.concurrency);
      return null;
    case 'push-run':
      if (!push) throw new Error('push-prepare first');
      return push.run(c.args.seconds);
    case 'push-release':
      await push?.release();
      return null;
  }
}

if (!process.send) {
  process.stderr.write('bench/generator.ts is started by bench/run.ts\n');
  process.exit(2);
}
// One command at a time, in order.
let queue: Promise<void> = Promise.resolve();
process.on('message', (m: Command & { id: number }) => {
  queue = queue.then(async () => {
    try {
      const result = await handle(m);
      process.send!({ id: m.id, ok: true, result });
    } catch (e) {
      process.send!({ id: m.id, ok: false, error: (e as Error).stack ?? String(e) });
    }
  });
});
process.on('disconnect', () => process.exit(0));
