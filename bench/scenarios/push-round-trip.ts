/**
 * Scenario (c), push round trip to listening phones: `concurrency` phones each keep one sealed
 * connection on which they ran a `listen` handshake. One iteration of a phone:
 *
 *   fresh nonce → getSession → the phone logs the session in (QR) → REST logout, so the
 *   session is loggedOut with canprovoke → a browser opens the text socket, REGISTER, hears
 *   CANPROVOKE → the browser sends PROVOKE (with the session's browser token) → the NS pushes to the phone's listening connection
 *   → the phone logs in from the push → the browser hears LOGIN.
 *
 * Latencies: browser sends PROVOKE → phone receives `push`; and → browser receives `LOGIN`.
 * The server runs with the push limits lifted (--push-interval-seconds 0, --push-hourly 100000):
 * by default an account takes one push per 10 s.
 */
import { WebSocket } from 'ws';
import { MemoryKeyStore, Phone, pushToQr, type AppConnection, type Frame, type StoredAccount } from '../../src/sdk/app.ts';
import { nodeSigner } from '../lib/fast-crypto.ts';
import { newNonce } from '../lib/rest.ts';
import { latency, type Latency } from '../lib/stats.ts';
import type { GeneratorContext } from '../generator.ts';

export interface PushResult {
  concurrency: number;
  roundTrips: number;
  errors: number;
  firstError?: string;
  seconds: number;
  /** completed push round trips (PROVOKE … LOGIN) per second; each iteration also does a QR login and a logout */
  perSecond: number;
  /** browser sends PROVOKE → phone receives `push`, ms */
  pushLatencyMs: Latency;
  /** browser sends PROVOKE → browser receives `LOGIN`, ms */
  loginLatencyMs: Latency;
  generatorCpu: number;
}

interface ListeningPhone {
  phone: Phone;
  connection: AppConnection;
  /** resolves the iteration waiting for a push */
  onPush?: (frame: Frame, at: number) => void;
}

/** A browser on the text socket: resolves `heard(type)` when a line of that type arrives. */
class Browser {
  readonly #waiters = new Map<string, (at: number) => void>();
  readonly #heard = new Map<string, number>();
  /** called with an `ERROR <code>` line */
  onError?: (line: string) => void;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const line = data.toString();
      const type = line.split(' ')[0]!;
      if (type === 'ERROR') this.onError?.(line);
      const at = performance.now();
      this.#heard.set(type, at);
      this.#waiters.get(type)?.(at);
      this.#waiters.delete(type);
    });
  }

  static open(url: string): Promise<Browser> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ns/websocket`, { perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Browser(ws)));
      ws.once('error', reject);
    });
  }

  heard(type: string, timeoutMs = 60_000): Promise<number> {
    const at = this.#heard.get(type);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`browser: no ${type} (heard ${[...this.#heard.keys()].join(', ')})`)), timeoutMs);
      this.#waiters.set(type, (t) => (clearTimeout(timer), resolve(t)));
    });
  }

  close(): void {
    this.ws.close();
  }
}

export class PushRoundTrip {
  #phones: ListeningPhone[] = [];

  constructor(private readonly ctx: GeneratorContext) {}

  /** One phone per account, each listening on its own sealed connection. */
  async prepare(accounts: StoredAccount[], concurrency: number): Promise<void> {
    await this.release();
    if (accounts.length < concurrency) throw new Error(`${concurrency} listening phones need ${concurrency} accounts, have ${accounts.length}`);
    this.#phones = await Promise.all(
      accounts.slice(0, concurrency).map(async (account) => {
        const phone = new Phone({ keystore: new MemoryKeyStore([account]), WebSocket, signer: (a) => nodeSigner(a), timeoutMs: 60_000 });
        const connection = await phone.connect(this.ctx.appUrl);
        await phone.listen(account.serverid, { connection });
        const p: ListeningPhone = { phone, connection };
        connection.on('push', (frame) => p.onPush?.(frame, performance.now()));
        return p;
      }),
    );
    await Promise.all(this.#phones.map((p) => this.#iteration(p))); // warm-up, not counted
  }

  async run(seconds: number): Promise<PushResult> {
    const pushTimes: number[] = [];
    const loginTimes: number[] = [];
    let errors = 0;
    let firstError: string | undefined;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const deadline = start + seconds * 1000;
    await Promise.all(
      this.#phones.map(async (p) => {
        while (performance.now() < deadline) {
          try {
            const t = await this.#iteration(p);
            pushTimes.push(t.push);
            loginTimes.push(t.login);
          } catch (e) {
            errors++;
            firstError ??= (e as Error).message;
          }
        }
      }),
    );
    const wall = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    return {
      concurrency: this.#phones.length,
      roundTrips: loginTimes.length,
      errors,
      ...(firstError ? { firstError } : {}),
      seconds: wall / 1000,
      perSecond: loginTimes.length / (wall / 1000),
      pushLatencyMs: latency(pushTimes),
      loginLatencyMs: latency(loginTimes),
      generatorCpu: (cpu.user + cpu.system) / 1000 / wall,
    };
  }

  async #iteration(p: ListeningPhone): Promise<{ push: number; login: number }> {
    const { ctx } = this;
    const nonce = newNonce();
    const headers = { 'x-nonce': nonce };
    const status = await ctx.rest.ok<{ hsid: string; loginqrdata: string; browsertoken: string }>('GET', `/servers/${ctx.serverid}/sessions/`, { headers });
    await p.phone.login(status.loginqrdata, { connection: p.connection });
    await ctx.rest.ok('POST', `/servers/${ctx.serverid}/sessions/logout`, { headers });
    const browser = await Browser.open(ctx.url);
    try {
      browser.ws.send(`REGISTER ${status.hsid} ${ctx.serverid}`);
      await browser.heard('CANPROVOKE');
      const pushed = new Promise<{ frame: Frame; at: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('phone: no push')), 60_000);
        p.onPush = (frame, at) => (clearTimeout(timer), (p.onPush = undefined), resolve({ frame, at }));
        browser.onError = (line) => (clearTimeout(timer), reject(new Error(`browser: ${line} after PROVOKE`)));
      });
      const provokedAt = performance.now();
      browser.ws.send(`PROVOKE ${status.hsid} ${ctx.serverid} ${status.browsertoken}`);
      const { frame, at: pushAt } = await pushed;
      await p.phone.login(pushToQr(frame, ctx.appUrl), { connection: p.connection });
      const loginAt = await browser.heard('LOGIN');
      return { push: pushAt - provokedAt, login: loginAt - provokedAt };
    } finally {
      p.onPush = undefined;
      browser.close();
    }
  }

  async release(): Promise<void> {
    for (const p of this.#phones) p.connection.close();
    this.#phones = [];
  }
}
