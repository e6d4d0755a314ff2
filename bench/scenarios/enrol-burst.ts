/**
 * Scenario (d), enrolment burst: `n` new phones enrol at once (`concurrency` at a time), each as
 * a real phone would: getQrEnrol (REST) → `phone.enrol(qr)` on a connection of its own. Each
 * enrolment is three store changes in the server (the enrol code issued, scanned, used with the
 * new account). The accounts made are kept for the login storm.
 */
import { WebSocket } from 'ws';
import { MemoryKeyStore, Phone, type StoredAccount } from '../../src/sdk/app.ts';
import { newNonce } from '../lib/rest.ts';
import { latency, pool, type Latency } from '../lib/stats.ts';
import type { GeneratorContext } from '../generator.ts';

/** Store changes one enrolment makes (src/core/enrol/enrolment.ts issue + markScanned, verify-proof.ts create). */
export const STORE_CHANGES_PER_ENROLMENT = 3;

export interface EnrolBurstResult {
  asked: number;
  enrolled: number;
  errors: number;
  firstError?: string;
  seconds: number;
  perSecond: number;
  /** getQrEnrol sent → account stored on the phone, ms */
  latencyMs: Latency;
}

export async function enrolBurst(ctx: GeneratorContext, opts: { n: number; concurrency: number }): Promise<{ result: EnrolBurstResult; accounts: StoredAccount[] }> {
  const accounts: StoredAccount[] = [];
  const times: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  await pool(opts.n, opts.concurrency, async (i) => {
    const t0 = performance.now();
    try {
      const qr = await ctx.rest.request('GET', `/servers/${ctx.serverid}/sessions/qr/enrol?name=bench-${i}`, {
        headers: { 'x-nonce': newNonce() },
      });
      if (qr.status !== 200) throw new Error(`getQrEnrol: HTTP ${qr.status}`);
      const phone = new Phone({ keystore: new MemoryKeyStore(), WebSocket, timeoutMs: 60_000 });
      const { account } = await phone.enrol(new Uint8Array(qr.raw));
      times.push(performance.now() - t0);
      accounts.push(account);
    } catch (e) {
      errors++;
      firstError ??= (e as Error).message;
    }
  });
  const seconds = (performance.now() - start) / 1000;
  return {
    accounts,
    result: {
      asked: opts.n,
      enrolled: accounts.length,
      errors,
      ...(firstError ? { firstError } : {}),
      seconds,
      perSecond: accounts.length / seconds,
      latencyMs: latency(times),
    },
  };
}
