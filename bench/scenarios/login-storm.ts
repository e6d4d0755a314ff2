/**
 * Scenario (a), login storm: `concurrency` phones log in waiting browsers as fast as they can
 * (a closed loop: each phone starts its next login when the last one is done). One iteration:
 *
 *   fresh nonce → getSession (REST, gives the hsid and the login QR data)
 *   → a new browser opens the text socket, sends REGISTER and hears LOGOUT (it is waiting)
 *   → the phone logs in with the QR on its kept-open sealed connection
 *   → the browser hears LOGIN, closes.
 *
 * Latency is from the phone sending `proof` (the WebSocket send right after the signature) to
 * the browser receiving `LOGIN`, on the same clock (one process).
 */
import { WebSocket } from 'ws';
import { MemoryKeyStore, Phone, type AppConnection, type StoredAccount } from '../../src/sdk/app.ts';
import { nodeSigner } from '../lib/fast-crypto.ts';
import { newNonce } from '../lib/rest.ts';
import { latency, type Latency } from '../lib/stats.ts';
import type { GeneratorContext } from '../generator.ts';

/** Store changes one login makes (src/core/admin/accounts.ts recordLogin). */
export const STORE_CHANGES_PER_LOGIN = 1;

export interface StormResult {
  concurrency: number;
  /** logins/s offered (paced run), if any: phones start their logins on a schedule instead of as fast as they can */
  offeredPerSecond?: number;
  logins: number;
  errors: number;
  firstError?: string;
  seconds: number;
  perSecond: number;
  /** phone sends `proof` → browser hears `LOGIN`, ms */
  latencyMs: Latency;
  /** phone sends `proof` → phone gets `result`, ms */
  resultLatencyMs: Latency;
  /** one whole iteration (getSession … LOGIN), ms */
  iterationMs: Latency;
  /** CPU of the generator during the run / wall time (1 = one core busy) */
  generatorCpu: number;
  /** logins completed in each second of the run (does the rate hold as the data files grow?) */
  perSecondTimeline: number[];
}

/** When a phone's next WebSocket send is its proof, and when it went. */
interface ProofClock {
  armed: boolean;
  sentAt: number;
}

/** A `ws` WebSocket that stamps the first send after the phone signs (its proof frame). */
function stampingSocket(clock: ProofClock): typeof WebSocket {
  return class extends WebSocket {
    override send(data: unknown, ...rest: unknown[]): void {
      if (clock.armed) {
        clock.armed = false;
        clock.sentAt = performance.now();
      }
      (super.send as (...a: unknown[]) => void)(data, ...rest);
    }
  } as typeof WebSocket;
}

/** A browser waiting on the text socket for one session. */
class WaitingBrowser {
  readonly loggedIn: Promise<number>;
  #onLogin!: (at: number) => void;

  private constructor(readonly ws: WebSocket) {
    this.loggedIn = new Promise((resolve) => (this.#onLogin = resolve));
  }

  /** Opens, registers, and resolves once the NS answered the REGISTER (with LOGOUT: waiting). */
  static open(url: string, hsid: string, serverid: string, timeoutMs: number): Promise<WaitingBrowser> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ns/websocket`, { perMessageDeflate: false });
    const browser = new WaitingBrowser(ws);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (ws.terminate(), reject(new Error('browser: no answer to REGISTER'))), timeoutMs);
      ws.on('open', () => ws.send(`REGISTER ${hsid} ${serverid}`));
      ws.on('message', (data) => {
        const line = data.toString();
        if (line.startsWith('LOGIN ')) browser.#onLogin(performance.now());
        else if (line.startsWith('LOGOUT ')) clearTimeout(timer), resolve(browser);
        else if (line.startsWith('ERROR')) clearTimeout(timer), reject(new Error(`browser: ${line}`));
      });
      ws.on('error', (e) => (clearTimeout(timer), reject(e)));
    });
  }

  close(): void {
    this.ws.close();
  }
}

interface StormPhone {
  phone: Phone;
  clock: ProofClock;
  connection: AppConnection;
  /** false once `connection` has closed */
  open: boolean;
}

export class LoginStorm {
  #phones: StormPhone[] = [];

  constructor(private readonly ctx: GeneratorContext) {}

  /** Makes one phone per account (node:crypto signer), connects each, and runs one login each (warm-up, not counted). */
  async prepare(accounts: StoredAccount[], concurrency: number): Promise<void> {
    await this.release();
    if (accounts.length < concurrency) throw new Error(`a storm of ${concurrency} phones needs ${concurrency} accounts, have ${accounts.length}`);
    this.#phones = await Promise.all(
      accounts.slice(0, concurrency).map(async (account) => {
        const clock: ProofClock = { armed: false, sentAt: 0 };
        const phone = new Phone({
          keystore: new MemoryKeyStore([account]),
          WebSocket: stampingSocket(clock),
          signer: (a) => nodeSigner(a, () => (clock.armed = true)),
          timeoutMs: 60_000,
        });
        const p: StormPhone = { phone, clock, connection: undefined as unknown as AppConnection, open: false };
        await this.#connect(p);
        return p;
      }),
    );
    await Promise.all(this.#phones.map((p) => this.#iteration(p)));
  }

  /**
   * Runs the closed loop for `seconds`; every login started is finished before it resolves. With
   * `rate`, logins start on a schedule (`rate` per second across the phones; a phone that is late
   * starts its next one at once), to see the latency of a load the server can carry.
   */
  async run(seconds: number, rate?: number): Promise<StormResult> {
    const latencies: number[] = [];
    const resultLatencies: number[] = [];
    const iterations: number[] = [];
    const timeline: number[] = [];
    let errors = 0;
    let firstError: string | undefined;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const deadline = start + seconds * 1000;
    const n = this.#phones.length;
    await Promise.all(
      this.#phones.map(async (p, i) => {
        for (let k = 0; performance.now() < deadline; k++) {
          if (rate) {
            const due = start + ((k * n + i) / rate) * 1000;
            if (due >= deadline) break;
            if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
          }
          try {
            const t = await this.#iteration(p);
            latencies.push(t.login);
            const second = Math.floor((performance.now() - start) / 1000);
            timeline[second] = (timeline[second] ?? 0) + 1;
            resultLatencies.push(t.result);
            iterations.push(t.iteration);
          } catch (e) {
            errors++;
            firstError ??= (e as Error).message;
            if (!p.open) await this.#connect(p); // the NS dropped it: a phone reconnects
          }
        }
      }),
    );
    const wall = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    return {
      concurrency: this.#phones.length,
      ...(rate ? { offeredPerSecond: rate } : {}),
      logins: latencies.length,
      errors,
      ...(firstError ? { firstError } : {}),
      seconds: wall / 1000,
      perSecond: latencies.length / (wall / 1000),
      latencyMs: latency(latencies),
      resultLatencyMs: latency(resultLatencies),
      iterationMs: latency(iterations),
      generatorCpu: (cpu.user + cpu.system) / 1000 / wall,
      perSecondTimeline: Array.from(timeline, (n) => n ?? 0),
    };
  }

  async #connect(p: StormPhone): Promise<void> {
    const connection = await p.phone.connect(this.ctx.appUrl);
    p.connection = connection;
    p.open = true;
    void connection.closed.then(() => {
      if (p.connection === connection) p.open = false;
    });
  }

  async #iteration(p: StormPhone): Promise<{ login: number; result: number; iteration: number }> {
    const { ctx } = this;
    const t0 = performance.now();
    const status = await ctx.rest.ok<{ hsid: string; loginqrdata: string }>('GET', `/servers/${ctx.serverid}/sessions/`, {
      headers: { 'x-nonce': newNonce() },
    });
    const browser = await WaitingBrowser.open(ctx.url, status.hsid, ctx.serverid, 60_000);
    try {
      p.clock.sentAt = 0;
      await p.phone.login(status.loginqrdata, { connection: p.connection });
      const resultAt = performance.now();
      const loginAt = await withTimeout(browser.loggedIn, 60_000, 'browser: no LOGIN');
      if (!p.clock.sentAt) throw new Error('the proof was not seen leaving');
      return { login: loginAt - p.clock.sentAt, result: resultAt - p.clock.sentAt, iteration: Math.max(loginAt, resultAt) - t0 };
    } finally {
      browser.close();
    }
  }

  async release(): Promise<void> {
    for (const p of this.#phones) p.connection.close();
    this.#phones = [];
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise.finally(() => clearTimeout(timer)), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]);
}
