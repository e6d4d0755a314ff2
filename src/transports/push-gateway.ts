/**
 * The push gateway client: for a phone that is not connected, the NS POSTs
 * `{serverid, accountid, payload}` to the server's gateway, where `payload` is the push frame's
 * content encrypted to the account's X25519 key (`pkx`) with `nacl.box`:
 * base64 of msgpack `{epk, nonce, box}`. Retries with backoff for a bounded time; a failure is a
 * log line and a counted event, never a crash.
 */
import { encode } from '@msgpack/msgpack';
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import type { GatewayPush } from '../core/push/push.ts';

/** Encrypts the push content to the account's pkx. */
export function sealPushPayload(pkx: Uint8Array, content: Record<string, unknown>): string {
  const eph = nacl.box.keyPair();
  const nonce = randomBytes(24);
  const box = nacl.box(encode(content), nonce, pkx, eph.secretKey);
  return Buffer.from(encode({ epk: eph.publicKey, nonce, box })).toString('base64');
}

export interface GatewayOptions {
  /** tries in all (default 4: after 0, 0.5, 1, 2 s) */
  tries?: number;
  firstDelayMs?: number;
  timeoutMs?: number;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  onResult?: (ok: boolean) => void;
}

export async function sendToGateway(url: string, push: GatewayPush, opts: GatewayOptions): Promise<boolean> {
  const body = JSON.stringify({ serverid: push.serverid, accountid: push.accountid, payload: sealPushPayload(push.pkx, push.content) });
  const tries = opts.tries ?? 4;
  let delay = opts.firstDelayMs ?? 500;
  for (let attempt = 1; attempt <= tries; attempt++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
      });
      if (res.ok) {
        opts.log.info({ serverid: push.serverid, acc: push.accountid, attempt }, 'push sent to the gateway');
        opts.onResult?.(true);
        return true;
      }
      opts.log.warn({ serverid: push.serverid, acc: push.accountid, attempt, status: res.status }, 'push gateway refused');
    } catch (err) {
      opts.log.warn({ serverid: push.serverid, acc: push.accountid, attempt, err: (err as Error).message }, 'push gateway unreachable');
    }
    if (attempt < tries) {
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
  opts.log.warn({ serverid: push.serverid, acc: push.accountid, code: 'PUSH_FAILED' }, 'push could not be delivered');
  opts.onResult?.(false);
  return false;
}
