/**
 * A load generator process (started by bench/run.ts with an IPC channel). It holds phones (the
 * SDK, with node:crypto) and browsers (text socket, socket.io) and runs the scenarios the driver
 * asks for, one command at a time: `{id, cmd, args}` → `{id, ok, result | error}`.
 */
import type { StoredAccount } from '../src/sdk/app.ts';
import { fromB64url, toB64url } from '../src/wire/base64url.ts';
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

/** Another server the storm may run on (bench/floor-server.ts): its accounts are the NS's, pinned to it. */
export interface StormTarget {
  /** http://host:port */
  url: string;
  serverid: string;
  /** its Ed25519 public key, base64url */
  serverpk: string;
}

export type Command =
  | { cmd: 'init'; args: { url: string; apikey: string; serverid: string } }
  | { cmd: 'enrol'; args: { n: number; concurrency: number } }
  | { cmd: 'accounts'; args: { n: number } }
  | { cmd: 'storm-prepare'; args: { concurrency: number; target?: StormTarget } }
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
/** The storm, and the server it runs on (the NS, or a `StormTarget`). */
let storm: { ctx: GeneratorContext; run: LoginStorm } | undefined;
let idle: IdleBrowsers | undefined;
let push: PushRoundTrip | undefined;

const contextOf = (url: string, apikey: string, serverid: string): GeneratorContext => ({
  url,
  apikey,
  serverid,
  appUrl: `${url.replace(/^http/, 'ws')}/ns/sigmai`,
  rest: new Rest(url, apikey),
});

const need = (): GeneratorContext => {
  if (!ctx) throw new Error('init first');
  return ctx;
};

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'init': {
      const { url, apikey, serverid } = c.args;
      ctx = contextOf(url, apikey, serverid);
      return { pid: process.pid };
    }
    case 'enrol': {
      const { result, accounts: made } = await enrolBurst(need(), c.args);
      accounts = accounts.concat(made);
      return result;
    }
    case 'accounts':
      // The first n accounts' ids and public keys (the last 32 bytes of a NaCl secret key).
      return accounts.slice(0, c.args.n).map((a) => ({ acc: a.acc, pk: toB64url(fromB64url(a.secretKey).subarray(32)) }));
    case 'storm-prepare': {
      const { concurrency, target } = c.args;
      if (storm?.ctx.url !== (target?.url ?? need().url)) {
        if (storm) {
          await storm.run.release();
          if (storm.ctx !== need()) storm.ctx.rest.close();
        }
        const ctx = target ? contextOf(target.url, need().apikey, target.serverid) : need();
        storm = { ctx, run: new LoginStorm(ctx) };
      }
      const { appUrl } = storm.ctx;
      await storm.run.prepare(target ? accounts.map((a) => ({ ...a, serverid: target.serverid, serverpk: target.serverpk, appUrl })) : accounts, concurrency);
      return null;
    }
    case 'storm-run':
      if (!storm) throw new Error('storm-prepare first');
      return storm.run.run(c.args.seconds, c.args.rate);
    case 'storm-release':
      await storm?.run.release();
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
