/**
 * The phone simulator: `nextauth app enrol|login <qr>` does what the nextAuth app does with a
 * scanned code, with the SDK's Phone, the `ws` WebSocket and a FileKeyStore. Before the proof it
 * shows what a phone would show and asks for consent (unless --yes).
 */
import path from 'node:path';
import readline from 'node:readline';
import WebSocket from 'ws';
import { Phone, SdkError, parseQrText, toB64url, type ChallengeInfo, type Consent, type QrCode } from '../sdk/app.ts';
import { FileKeyStore } from '../sdk/file-keystore.ts';
import { OpError, UsageError, accountIdArg, checkFlags, flagValue, positionals, switchOn, type Args } from './args.ts';
import { clean, fields, json, table } from './output.ts';

export const DEFAULT_KEYSTORE = 'nextauth-phone.json';
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

/** Reads one line from stdin (undefined at end of input). */
export function askStdin(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, terminal: false });
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(line);
    });
    rl.once('close', () => {
      if (!answered) resolve(undefined);
    });
  });
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
  if (info.number !== undefined) pairs.push(['Number', info.number]);
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

const COMMON = ['keystore', 'yes', 'sf', 'json', 'help'];

/** `nextauth app <enrol|login|list> …` */
export async function runApp(a: Args, io: Io): Promise<void> {
  const [sub, ...args] = a.rest.slice(1);
  const { flags } = a;
  const keystore = new FileKeyStore(path.resolve(flagValue(flags, 'keystore') ?? DEFAULT_KEYSTORE));
  const asJson = switchOn(flags, 'json');
  const WS = WebSocket as unknown as new (url: string) => unknown;

  if (sub === 'list') {
    checkFlags(flags, ['keystore', 'json', 'help'], 'app list');
    positionals(args, [], 'app list');
    const accounts = (await keystore.list()).map(({ secretKey: _s, boxSecretKey: _b, ...rest }) => rest);
    io.out(asJson ? json(accounts) : table(['SERVERID', 'ACC', 'SERVER', 'USERID', 'APP URL'], accounts.map((x) => [x.serverid, x.acc, x.name, x.userid, x.appUrl])));
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
    const { connection, info } = await sdk(() => phone.login(code, { acc: account.acc }));
    const result = { acc: account.acc, serverid, server: info.name, userid: account.userid ?? null, loggedin: true };
    io.out(asJson ? json(result) : `Logged in: ${clean(who)} on ${clean(info.name)} (server ${serverid}).\n`);
    if (!stay) {
      connection.close();
      return;
    }
    // Keep the sealed connection (answering pings) until Ctrl-C, then log out.
    io.screen('Staying connected; Ctrl-C logs out and quits.\n');
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

  throw new UsageError(`${sub === undefined ? 'app: missing subcommand' : `unknown subcommand "app ${sub}"`} (known: enrol, login, list)`);
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
