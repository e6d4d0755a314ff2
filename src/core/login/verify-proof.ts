/**
 * The checks a proof must pass before a session is `authenticated` (PROTOCOL.md §4.1 step 6),
 * in the order of the protocol: account on this server, not blocked, signature, second factor;
 * for an enrolment: enrol code unused, signature, second factor. Each failure has its code and
 * changes nothing; a success is on disk before it resolves.
 */
import { newEvent, sessionSubject } from '../events/new-event.ts';
import { NsError } from '../../wire/errors.ts';
import { toB64url } from '../../wire/base64url.ts';
import { verifyEd25519 } from '../crypto/keys.ts';
import type { Registry } from '../admin/registry.ts';
import type { SecondFactor } from '../admin/accounts.ts';
import type { AccountRecord } from '../../ports.ts';
import type { VerifyInput, VerifyOutput } from '../../../machines/session.ts';
import { LABELS } from '../../wire/labels.ts';
import type { EnrolProofBody, LoginProofBody } from '../../wire/frames.ts';

/** What the responder puts in the machine's proof event. */
export type ProofEvidence = { op: 'login'; body: LoginProofBody; h2: Uint8Array } | { op: 'enrol'; body: EnrolProofBody; h2: Uint8Array };

/**
 * The server's pinTimeout policy: -1 never asks, 0 always asks, N asks when the account's last
 * second factor is more than N minutes old.
 */
export function secondFactorSatisfied(pinTimeout: number, lastSecondFactor: number | undefined, sf: SecondFactor, now: number): boolean {
  if (pinTimeout < 0 || sf !== 'none') return true;
  if (pinTimeout === 0 || lastSecondFactor === undefined) return false;
  return now - lastSecondFactor <= pinTimeout * 60_000;
}

/**
 * The checks of a login or listen proof that name an account: it exists on THIS server, it is
 * not blocked, and its key signed `label || h2`.
 */
export async function checkAccountProof(registry: Registry, serverid: string, body: LoginProofBody, label: Uint8Array, h2: Uint8Array): Promise<AccountRecord> {
  const account = await registry.accounts.get(serverid, body.acc);
  if (!account) throw new NsError('UNKNOWN_ACCOUNT');
  if (account.blocked) throw new NsError('ACCOUNT_BLOCKED');
  if (!verifyEd25519(Buffer.from(account.pk, 'base64url'), Buffer.concat([label, h2]), body.sig)) throw new NsError('BAD_SIGNATURE');
  return account;
}

export function createProofVerifier(registry: Registry, now: () => number = Date.now) {
  return async function verifyProof(input: VerifyInput): Promise<VerifyOutput> {
    const evidence = input.proof as unknown as ProofEvidence;
    const server = await registry.servers.require(input.serverid);
    const at = now();
    const pingTime = server.pingTime * 1000;
    // The server's policy, or "always" for a session that requires the second factor.
    const pinTimeout = input.secondFactor === 'required' ? 0 : server.pinTimeout;
    if (evidence.op === 'login') {
      const { body, h2 } = evidence;
      const account = await checkAccountProof(registry, input.serverid, body, LABELS.login, h2);
      // Number match: the digits the browser showed must be in the (signed) proof.
      if (input.number !== undefined && body.number !== input.number) throw new NsError('BAD_SIGNATURE', 'The number does not match the one the browser shows');
      if (!secondFactorSatisfied(pinTimeout, account.lastSecondFactor, body.sf, at)) throw new NsError('SECOND_FACTOR_REQUIRED');
      await registry.accounts.recordLogin(input.serverid, account.id, body.sf, at);
      return { account: account.id, pingTime, ...(body.input !== undefined ? { userinput: body.input } : {}) };
    }
    const { body, h2 } = evidence;
    const code = await registry.enrolment.usable(input.serverid, input.hsid, at);
    if (!verifyEd25519(body.pk, Buffer.concat([LABELS.enrol, h2]), body.sig)) throw new NsError('BAD_SIGNATURE');
    if (!secondFactorSatisfied(pinTimeout, undefined, body.sf, at)) throw new NsError('SECOND_FACTOR_REQUIRED');
    const pk = toB64url(body.pk);
    if (await registry.store.findAccountByPk(input.serverid, pk)) throw new NsError('BAD_MESSAGE', 'This key is enrolled already');
    const account = await registry.store.transact(async (tx) => {
      await registry.enrolment.useInChange(tx, code, at);
      const made = await registry.accounts.createInChange(
        tx,
        input.serverid,
        {
          pk,
          ...(body.pkx ? { pkx: toB64url(body.pkx) } : {}),
          description: body.name,
          clientVersion: body.client,
          ...(code.userid !== undefined ? { userid: code.userid } : {}),
          secondFactor: body.sf,
        },
        at,
      );
      tx.emit(
        newEvent(
          'com.nextauth.account.enrolled',
          input.serverid,
          {
            account: made.id,
            userid: made.userid,
            source: input.source,
            subject: sessionSubject(input.hsid),
            data: { description: made.description, ...(made.clientVersion ? { clientVersion: made.clientVersion } : {}) },
          },
          at,
        ),
      );
      return made;
    });
    registry.accounts.events.emit('enrolled', input.serverid, account.id);
    return { account: account.id, pingTime };
  };
}
