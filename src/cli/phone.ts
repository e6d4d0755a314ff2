/**
 * The phone simulator: `nextauth app enrol|login <qr>` does what the nextAuth app does with a
 * scanned code, with the SDK's Phone, the `ws` WebSocket and a FileKeyStore. Before the proof it
 * shows what a phone would show and asks for consent (unless --yes). `nextauth app listen` keeps
 * the phone connected and answers pushes (provokeLogin*) the same way. Both `app listen` and
 * `app login --stay` answer transactions sent on their connection (always with a second factor).
 */
import path from 'node:path';
import readline from 'node:readline';
import WebSocket from 'ws';
import {
  Phone,
  SdkError,
  answerTransaction,
  fromB64url,
  naclSigner,
  parseQrText,
  pushToQr,
  readTransaction,
  toB64url,
  type AppConnection,
  type ChallengeInfo,
  type Consent,
  type Frame,
  type QrCode,
  type StoredAccount,
} from '../sdk/app.ts';
import { FileKeyStore } from '../sdk/file-keystore.ts';
import { defaultKeystore } from './keystore-path.ts';
import { OpError, UsageError, accountIdArg, checkFlags, flagValue, positionals, serverIdArg, switchOn, type Args } from './args.ts';
import { clean, fields, json, table } from './output.ts';

const SECOND_FACTORS = ['none', 'pin', 'biometric'] as const;
type SecondFactor = (typeof SECOND_FACTORS)[number];

export interface Io {
  /** Where results go (stdout). */
  out: (text: string) => void;
  /** Where the consent screen goes: stdout, or stderr with --json so stdout stays JSON. */
  screen: (text: string) => void;
  /** One line of the user's answer, or undefined at end of input. */
  ask: () => Promise<string | undefined>;
}

/**
 * Lines of stdin, read by one readline interface for the whole process, so that lines piped in
 * ahead of the questions are kept for the later ones. Between questions stdin is paused and
 * unref'd: a terminal or pipe left open does not keep the process alive.
 */
const stdin: { rl?: readline.Interface; lines: string[]; waiting: Array<(line: string | undefined) => void>; ended: boolean } = {
  lines: [],
  waiting: [],
  ended: false,
};

/** ref / unref of stdin when it is a socket (terminal, pipe); a file has neither. */
const stdinHandle = () => process.stdin as { ref?: () => void; unref?: () => void };

/** Reads one line from stdin (undefined at end of input, or once closeStdin() was called). */
export function askStdin(): Promise<string | undefined> {
  if (stdin.lines.length > 0) return Promise.resolve(stdin.lines.shift());
  if (stdin.ended) return Promise.resolve(undefined);
  if (!stdin.rl) {
    const rl = (stdin.rl = readline.createInterface({ input: process.stdin, terminal: false }));
    rl.on('line', (line) => {
      const waiter = stdin.waiting.shift();
      if (waiter) waiter(line);
      else stdin.lines.push(line);
      if (stdin.waiting.length === 0) {
        rl.pause();
        stdinHandle().unref?.();
      }
    });
    rl.on('close', () => {
      stdin.ended = true;
      for (const waiter of stdin.waiting.splice(0)) waiter(undefined);
    });
  }
  const rl = stdin.rl;
  return new Promise((resolve) => {
    stdin.waiting.push(resolve);
    stdinHandle().ref?.();
    rl.resume();
  });
}

/** Stops reading stdin: a question waiting for an answer gets undefined. */
export function closeStdin(): void {
  stdin.ended = true;
  stdin.rl?.close();
  stdinHandle().unref?.();
  for (const waiter of stdin.waiting.splice(0)) waiter(undefined);
}

function parseQrArg(text: string): QrCode {
  try {
    return parseQrText(text);
  } catch (e) {
    throw new UsageError(`<qr>: ${(e as Error).message} (give base64, base64url or an app link ...?qr=...)`);
  }
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** What the phone shows before it asks for consent. */
export function consentScreen(info: ChallengeInfo, action: string): string {
  const pairs: Array<[string, string]> = [
    ['Server', info.name],
    ['Action', action],
    ['Browser', `ip ${info.session.ip ?? 'unknown'}, user agent ${info.session.ua ?? 'unknown'}`],
  ];
  if (info.session.info !== undefined) pairs.push(['Session', show(info.session.info)]);
  if (info.announce !== undefined && info.announce !== null) pairs.push(['Announce', show(info.announce)]);
  if (info.number !== undefined) pairs.push(['Browser shows', String(info.number)]);
  return fields(pairs);
}

function secondFactor(flags: ReadonlyMap<string, string>): SecondFactor {
  const sf = flagValue(flags, 'sf') ?? 'none';
  if (!(SECOND_FACTORS as readonly string[]).includes(sf)) throw new UsageError(`--sf: "${sf}" is not one of ${SECOND_FACTORS.join(', ')}`);
  return sf as SecondFactor;
}

/** The consent callback: shows the screen, then --yes or the answer to "Confirm? [y/N]". */
function consentOf(flags: ReadonlyMap<string, string>, io: Io, action: () => string): (info: ChallengeInfo) => Promise<Consent> {
  const yes = switchOn(flags, 'yes');
  const sf = secondFactor(flags);
  return async (info) => {
    io.screen(consentScreen(info, action()));
    if (yes) return { accept: true, sf };
    io.screen('Confirm? [y/N] ');
    const answer = (await io.ask())?.trim().toLowerCase();
    return { accept: answer === 'y' || answer === 'yes', sf };
  };
}

/**
 * The consent callback of a push: as consentOf, plus number match (the number the browser
 * shows: typed by the user, or with --yes the challenge's own) and "r", deny and report.
 */
function pushConsentOf(flags: ReadonlyMap<string, string>, io: Io, action: () => string): (info: ChallengeInfo) => Promise<Consent> {
  const yes = switchOn(flags, 'yes');
  const sf = secondFactor(flags);
  return async (info) => {
    io.screen(consentScreen(info, action()));
    const shown = info.number === undefined ? undefined : String(info.number);
    if (yes) return { accept: true, sf, ...(shown !== undefined ? { number: shown } : {}) };
    let number: string | undefined;
    if (shown !== undefined) {
      io.screen('Type the number shown on the browser: ');
      number = (await io.ask())?.trim();
      if (!number) return { accept: false };
    }
    io.screen('Confirm? [y/N/r=deny and report] ');
    const answer = (await io.ask())?.trim().toLowerCase();
    if (answer === 'r') return { accept: false, report: true };
    return { accept: answer === 'y' || answer === 'yes', sf, ...(number !== undefined ? { number } : {}) };
  };
}

const COMMON = ['keystore', 'yes', 'sf', 'json', 'help'];

/** `nextauth app <enrol|login|list|listen> …` */
export async function runApp(a: Args, io: Io): Promise<void> {
  const [sub, ...args] = a.rest.slice(1);
  const { flags } = a;
  const keystore = new FileKeyStore(path.resolve(flagValue(flags, 'keystore') ?? defaultKeystore()));
  const asJson = switchOn(flags, 'json');
  const WS = WebSocket as unknown as new (url: string) => unknown;

  if (sub === 'list') {
    checkFlags(flags, ['keystore', 'json', 'help'], 'app list');
    positionals(args, [], 'app list');
    const accounts = (await keystore.list()).map(({ secretKey: _s, boxSecretKey: _b, ...rest }) => rest);
    io.out(
      asJson
        ? json(accounts)
        : table(
            ['SERVERID', 'ACC', 'SERVER', 'USERID', 'APP URL'],
            accounts.map((x) => [x.serverid, x.acc, x.name, x.userid, x.appUrl]),
          ),
    );
    return;
  }

  if (sub === 'enrol') {
    checkFlags(flags, [...COMMON, 'description'], 'app enrol');
    const [text] = positionals(args, ['<qr>'], 'app enrol');
    const code = parseQrArg(text!);
    if (code.op !== 'enrol') throw new UsageError('<qr>: this is a login code; use nextauth app login');
    const description = flagValue(flags, 'description');
    const name = description ?? code.name;
    const consent = consentOf(flags, io, () => `enrol as ${name}${code.userid !== null ? ` (user ${code.userid})` : ''}`);
    const phone = new Phone({ keystore, WebSocket: WS, consent, clientVersion: 'nextauth-cli/1' });
    const { acc, account } = await sdk(() => phone.enrol(code, description !== undefined ? { description } : {}));
    const result = { acc, serverid: account.serverid, server: account.name, userid: account.userid ?? null, keystore: keystore.file };
    io.out(asJson ? json(result) : `Enrolled: account ${acc} on ${clean(account.name)} (server ${account.serverid}).\nStored in ${keystore.file}\n`);
    return;
  }

  if (sub === 'login') {
    checkFlags(flags, [...COMMON, 'acc', 'stay'], 'app login');
    const [text] = positionals(args, ['<qr>'], 'app login');
    const code = parseQrArg(text!);
    if (code.op !== 'login') throw new UsageError('<qr>: this is an enrol code; use nextauth app enrol');
    const accFlag = flagValue(flags, 'acc');
    const acc = accFlag === undefined ? undefined : accountIdArg(accFlag, '--acc');
    const stay = switchOn(flags, 'stay');
    const serverid = toB64url(code.srv);
    const accounts = await keystore.find(serverid);
    const account = acc === undefined ? accounts[0] : accounts.find((x) => x.acc === acc);
    if (!account) {
      throw new OpError('NO_ACCOUNT', `no account${acc === undefined ? '' : ` ${acc}`} for server ${serverid} in ${keystore.file}: enrol first (nextauth app enrol)`);
    }
    const who = `account ${account.acc}${account.userid ? ` (user ${account.userid})` : ''}`;
    const consent = consentOf(flags, io, () => `log in as ${who}`);
    const phone = new Phone({ keystore, WebSocket: WS, consent, clientVersion: 'nextauth-cli/1' });
    const { connection, info, transcript } = await sdk(() => phone.login(code, { acc: account.acc }));
    const result = { acc: account.acc, serverid, server: info.name, userid: account.userid ?? null, loggedin: true };
    io.out(asJson ? json(result) : `Logged in: ${clean(who)} on ${clean(info.name)} (server ${serverid}).\n`);
    if (!stay) {
      connection.close();
      return;
    }
    // Keep the sealed connection (answering pings) until Ctrl-C, then log out.
    io.screen('Staying connected; Ctrl-C logs out and quits.\n');
    const proven: Proven = { account, name: info.name, label: `${clean(info.name)} as account ${account.acc}`, connection, transcript };
    let turn: Promise<void> = Promise.resolve();
    connection.on('transaction', (frame) => {
      turn = turn.then(() => answerTx(proven, frame, flags, io));
    });
    const stop = () => {
      connection.logout(code.hsid);
      setTimeout(() => connection.close(), 200);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await connection.closed;
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    return;
  }

  if (sub === 'listen') {
    checkFlags(flags, ['keystore', 'yes', 'sf', 'acc', 'server', 'help'], 'app listen');
    positionals(args, [], 'app listen');
    secondFactor(flags); // a bad --sf is a usage error now, not at the first push
    switchOn(flags, 'yes');
    const server = flagValue(flags, 'server');
    const accFlag = flagValue(flags, 'acc');
    const filter = {
      ...(server !== undefined ? { serverid: serverIdArg(server, '--server') } : {}),
      ...(accFlag !== undefined ? { acc: accountIdArg(accFlag, '--acc') } : {}),
    };
    return listen(keystore, filter, flags, io, WS);
  }

  throw new UsageError(`${sub === undefined ? 'app: missing subcommand' : `unknown subcommand "app ${sub}"`} (known: enrol, login, list, listen)`);
}

/** Turns the SDK's failures into OpError (exit 1) with their code. */
async function sdk<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    if (e instanceof SdkError) throw new OpError(e.code, e.message);
    throw e;
  }
}

/** A connection on which an account is proven: what a transaction's answer needs. */
interface Proven {
  account: StoredAccount;
  /** The server's name (from the handshake's challenge). */
  name: string;
  /** Server name and account, for the messages. */
  label: string;
  connection: AppConnection;
  /** h2 of the latest handshake that proved the account on this connection (the NS keeps the latest). */
  transcript: Uint8Array;
}

/** One account `app listen` listens for. */
interface Listening extends Proven {
  phone: Phone;
  /** The user's answer to the latest push. */
  answered: { consent?: Consent };
  /** Why it stopped: set once. */
  ended?: 'deleted' | 'lost' | 'stopped';
}

/**
 * `nextauth app listen`: a `listen` handshake per stored account (each on its own connection),
 * then every push is answered with a login handshake for its hsid on that connection, one push at
 * a time (the questions share stdin). `deleted` ends the account's listening; Ctrl-C ends all.
 * Resolves when nothing is left to listen for; throws OpError when a connection was lost.
 */
async function listen(
  keystore: FileKeyStore,
  filter: { serverid?: string; acc?: number },
  flags: ReadonlyMap<string, string>,
  io: Io,
  WS: new (url: string) => unknown,
): Promise<void> {
  const accounts = (await keystore.list()).filter((a) => (filter.serverid === undefined || a.serverid === filter.serverid) && (filter.acc === undefined || a.acc === filter.acc));
  if (accounts.length === 0) {
    const which = [filter.acc !== undefined ? `account ${filter.acc}` : 'account', filter.serverid !== undefined ? `for server ${filter.serverid}` : ''].join(' ').trim();
    throw new OpError('NO_ACCOUNT', `no ${which} in ${keystore.file}: enrol first (nextauth app enrol)`);
  }

  const active = new Set<Listening>();
  const started: Listening[] = [];
  let stopping = false;
  /** True while the listen handshakes run: nothing ends the command before they are all done. */
  let starting = true;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  /** Pushes are answered one after the other. */
  let turn: Promise<void> = Promise.resolve();
  const lost: string[] = [];

  const end = (l: Listening, why: NonNullable<Listening['ended']>) => {
    if (l.ended) return;
    l.ended = why;
    active.delete(l);
    l.connection.close();
    if (active.size === 0 && !stopping && !starting) {
      closeStdin();
      finish();
    }
  };

  let signals = 0;
  const stop = () => {
    if (++signals > 1) process.exit(130); // a second Ctrl-C does not wait
    if (stopping) return;
    stopping = true;
    io.screen('\nStopping: closing the connections.\n');
    closeStdin();
    for (const l of [...active]) end(l, 'stopped');
    finish();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  try {
    const failures: SdkError[] = [];
    for (const account of accounts) {
      if (stopping) break;
      const label = `${clean(account.name)} as account ${account.acc}${account.userid ? ` (user ${clean(account.userid)})` : ''}`;
      const ask = pushConsentOf(flags, io, () => `log in as account ${account.acc}${account.userid ? ` (user ${account.userid})` : ''}`);
      const answered: Listening['answered'] = {};
      const consent = async (info: ChallengeInfo) => (answered.consent = await ask(info));
      const phone = new Phone({ keystore, WebSocket: WS, consent, clientVersion: 'nextauth-cli/1' });
      let connection: AppConnection;
      let name: string;
      let transcript: Uint8Array;
      try {
        const result = await phone.listen(account.serverid, { acc: account.acc });
        connection = result.connection;
        name = result.info.name;
        transcript = result.transcript;
      } catch (e) {
        if (!(e instanceof SdkError)) throw e;
        failures.push(e);
        io.screen(`Cannot listen on ${label} (server ${account.serverid}): ${e.code}: ${clean(e.message)}\n`);
        continue;
      }
      const l: Listening = { account, name, label: `${clean(name)} as account ${account.acc}`, connection, transcript, phone, answered };
      if (stopping) {
        connection.close();
        break;
      }
      active.add(l);
      started.push(l);
      connection.on('push', (push) => {
        turn = turn.then(() => answerPush(l, push, io, () => stopping || l.ended !== undefined));
      });
      connection.on('transaction', (frame) => {
        turn = turn.then(() => (stopping || l.ended !== undefined ? undefined : answerTx(l, frame, flags, io)));
      });
      connection.on('deleted', (frame) => {
        if (frame.acc !== account.acc) return;
        io.out(`Account ${account.acc} on ${clean(name)} was removed by the server (deleted or blocked): no longer listening for it.\n`);
        end(l, 'deleted');
      });
      void connection.closed.then(({ code, reason }) => {
        if (l.ended || stopping) return;
        lost.push(l.label);
        io.out(`Lost the connection for ${l.label}: ${code}${reason ? ` ${clean(reason)}` : ''}\n`);
        end(l, 'lost');
      });
      io.out(`listening for pushes on ${clean(name)} as account ${account.acc}\n`);
    }
    starting = false;
    if (active.size === 0 && !stopping) {
      const [first] = failures;
      if (first && failures.length === 1 && lost.length === 0) throw new OpError(first.code, first.message);
      if (first && lost.length === 0) throw new OpError(first.code, `could not listen for any account (${failures.map((f) => `${f.code}: ${f.message}`).join('; ')})`);
      closeStdin();
      finish();
    }
    await finished;
    // Let the closes complete (and an answer in progress end with CLOSED) before returning.
    const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([Promise.all(started.map((l) => l.connection.closed)), wait(2000)]);
    await Promise.race([turn, wait(2000)]);
    if (stopping) io.out('Stopped listening.\n');
    if (lost.length > 0 && !stopping) throw new OpError('CLOSED', `lost the connection for ${lost.join(', ')}`);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Answers one push: a login handshake for its hsid on the listening connection; prints the outcome. */
async function answerPush(l: Listening, push: Frame, io: Io, gone: () => boolean): Promise<void> {
  if (gone()) return;
  let code: QrCode;
  try {
    code = pushToQr(push, l.account.appUrl);
  } catch (e) {
    io.out(`Ignored a malformed push for ${l.label}: ${(e as Error).message}\n`);
    return;
  }
  const hsid = toB64url(code.hsid);
  io.screen(`\nPush for ${l.label} (browser session ${hsid}):\n`);
  try {
    const { info, transcript } = await l.phone.login(code, { acc: l.account.acc, connection: l.connection });
    l.transcript = transcript; // this login proved the account again: a transaction is signed with it
    const ip = info.session.ip !== undefined ? ` (ip ${clean(info.session.ip)})` : '';
    io.out(`Logged in: the browser${ip} is logged in on ${l.label}.\n`);
  } catch (e) {
    if (!(e instanceof SdkError)) {
      io.out(`Login failed for ${l.label}: ${(e as Error).message}\n`);
      return;
    }
    if (gone() && e.code === 'CLOSED') return;
    if (e.code === 'DECLINED') {
      io.out(l.answered.consent?.report ? `Declined and reported: the server mutes pushes to ${l.label} for a while.\n` : 'Declined: the browser stays logged out.\n');
      return;
    }
    io.out(`Login failed for ${l.label}: ${e.code}: ${clean(e.message)}\n`);
  }
}

/**
 * Answers one transaction: shows the fields of the signed bytes (never the frame's `info`), asks
 * "Approve? [y/N]" unless --yes, then approves with the second factor (--sf if pin or
 * biometric, else pin: a transaction always asks for it) or declines; prints the outcome.
 */
async function answerTx(p: Proven, frame: Frame, flags: ReadonlyMap<string, string>, io: Io): Promise<void> {
  let view: ReturnType<typeof readTransaction>;
  try {
    view = readTransaction(frame);
  } catch (e) {
    io.out(`Ignored a malformed transaction for ${p.label}: ${(e as Error).message}\n`);
    return;
  }
  const tid = clean(view.tid);
  const parts = [
    view.amount !== undefined ? `amount ${clean(view.amount)}` : undefined,
    view.benificiary !== undefined ? `to ${clean(view.benificiary)}` : undefined,
    view.description !== undefined ? `description ${clean(view.description)}` : undefined,
  ].filter((x) => x !== undefined);
  const mine = view.srv === p.account.serverid && view.acc === p.account.acc;
  io.screen(`\nTransaction for ${clean(p.name)}: ${parts.length > 0 ? parts.join(', ') : 'no details'}\n`);
  let approve = false;
  if (!mine) {
    io.screen(`It names account ${view.acc} of server ${clean(view.srv)}, not ${p.label}: declining.\n`);
  } else if (switchOn(flags, 'yes')) {
    approve = true;
  } else {
    io.screen('Approve? [y/N] ');
    const answer = (await io.ask())?.trim().toLowerCase();
    approve = answer === 'y' || answer === 'yes';
  }
  const given = secondFactor(flags);
  const sf = given === 'none' ? 'pin' : given;
  try {
    const signer = naclSigner(fromB64url(p.account.secretKey));
    await answerTransaction(p.connection, frame, { signer, transcript: p.transcript, approve, ...(approve ? { sf } : {}) });
    io.out(approve ? `Approved: transaction ${tid} on ${p.label} (second factor ${sf}).\n` : `Declined: transaction ${tid} on ${p.label}.\n`);
  } catch (e) {
    const why = e instanceof SdkError ? `${e.code}: ${clean(e.message)}` : (e as Error).message;
    io.out(`Transaction ${tid} on ${p.label} failed: ${why}\n`);
  }
}
