/**
 * The `nextauth` command line. `start` runs the server; the other commands work on the data
 * folder of a stopped server, or on the REST API of a running one with --url and --key.
 */
import cluster, { type Worker } from 'node:cluster';
import { OpError, UsageError, parseArgs } from './args.ts';
import { ConfigError, loadConfig, parseFlags, settings } from '../config.ts';
import { NsError } from '../wire/errors.ts';
import { StoreDamagedError } from '../adapters/lowdb/lowdb-store.ts';
import { RunLockError } from '../adapters/lowdb/run-lock.ts';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_DIR, WebBuildError } from '../web/assets.ts';
import { DEFAULT_KEYSTORE_SHOWN } from './keystore-path.ts';
import { EVENT_TYPES } from '../core/events/event-types.ts';

/** The event types as the commands take them (without com.nextauth.), wrapped for the help. */
const eventTypes = (): string =>
  Object.keys(EVENT_TYPES)
    .map((t) => t.replace(/^com\.nextauth\./, ''))
    .join(' ')
    .replace(/(.{1,74})(?: |$)/g, '    $1\n');

/** The version of this NS (its package.json). */
const version = (): string => (JSON.parse(readFileSync(path.join(PROJECT_DIR, 'package.json'), 'utf8')) as { version: string }).version;

/** The help of each kind of command (`nextauth help <command>`, `nextauth <command> --help`); all of them make `nextauth help`. */
const HELP = {
  start: `  start                      run the server (data in ./data unless --data)
`,
  admin: `Admin commands. Two modes:
  1. a RUNNING server: --url http://host:port --key <apikey>
     (or the environment variables NEXTAUTH_URL and NEXTAUTH_API_KEY); they call its REST API.
  2. a STOPPED server: without --url, they open its data folder (--data, default ./data)
     directly. Refused while a server runs on that folder (its run lock names its URL).

  server create --name N                     make a virtual server
  server list                                list servers
  server show <serverid>                     one server's configuration
  key create --description D [--server <serverid> --permissions sessions,users]
                                             make an api key (printed once), with
                                             permissions on one server
  key reset-root                             (a stopped server's --data only) print a new
                                             root key and revoke the old one: for a lost key
  user list <serverid>                       users of a server
  user show <serverid> <userid>              a user's attributes and accounts
  user set-attributes <serverid> <userid> '<json>'
                                             replace a user's attributes (makes the user)
  account list <serverid>                    accounts of a server
  account block <serverid> <id> [--unblock]  block (or unblock) an account
  account delete <serverid> <id>             delete an account

  Output is a table; --json prints JSON instead.
`,
  events: `A server's webhooks and its audit trail (docs/events.md), in the two modes of the
admin commands (a running server: --url and --key; a stopped one: --data). They need 'root'
on the server.

  webhook create <serverid> --endpoint URL [--types T,T|all] [--description D]
                                             a webhook: the server's events (of those types,
                                             default all) POSTed to URL, signed; prints its
                                             signing secret (once)
  webhook list <serverid>                    its webhooks (never a secret)
  webhook show <serverid> <webhookid>        one webhook, its deliveries and retries
  webhook update <serverid> <webhookid> [--endpoint URL] [--types T,T|all] [--description D]
  webhook rotate <serverid> <webhookid>      a new signing secret (printed once); the old one
                                             signs beside it for 24 hours
  webhook delete <serverid> <webhookid>      delete a webhook
  webhook attempts <serverid> <webhookid>    its last delivery attempts, newest first
  events <serverid> [--type T,T] [--userid U] [--account N] [--from TIME] [--to TIME]
         [--limit N] [--before NEXT]         the audit trail, newest first: TIME is ISO 8601
                                             (2026-05-01T12:00:00Z) or ms since epoch, from
                                             included, to not; a full page prints the
                                             --before that gives the next one

  Event types (com.nextauth. before each may be left out):
${eventTypes()}
  Output is a table; --json prints JSON instead.
`,
  oidc: `The clients of a server's OpenID Provider (docs/oidc.md): the applications that log their
users in with it. In the two modes of the admin commands (a running server: --url and --key;
a stopped one: --data). They need 'root' on the server.

  oidc-client create <serverid> --name N --redirect-uris URL[,URL] [--public]
         [--post-logout-uris URL[,URL]] [--backchannel-logout-uri URL] [--scopes S,S]
                                             register a client: confidential (prints its
                                             client secret, once) or --public (no secret,
                                             PKCE); URLs https:// (http:// on localhost);
                                             scopes of openid profile email phone address
                                             offline_access (default openid,profile,email,
                                             offline_access)
  oidc-client list <serverid>                its clients (never a secret)
  oidc-client delete <serverid> <clientid>   delete a client: its logins stop
  oidc-key rotate <serverid>                 a new ID token signing key, published now and
                                             signing in two minutes; the old one is published
                                             a day more (no downtime)

  Output is a table; --json prints JSON instead.
`,
  store: `  store copy --from <data folder> --to postgres://…
                                             copy every record of a stopped embedded store
                                             into an empty PostgreSQL database, then read
                                             each one back and compare (the folder is only read)
`,
  app: `Phone simulator (does what the nextAuth app does with a scanned code):
  app enrol <qr> [--keystore FILE] [--yes] [--description D] [--sf none|pin|biometric]
  app login <qr> [--keystore FILE] [--yes] [--acc N] [--sf ...] [--stay]
  app list [--keystore FILE]                 accounts of the simulated phone
  app listen [--keystore FILE] [--yes] [--acc N] [--sf ...] [--server <serverid>]
                                             stay connected for every stored account (or one
                                             server's, or one account) and answer pushes

  <qr> is the QR code's bytes in base64 or base64url (e.g. LoginStatus.loginqrdata), or an
  app link (...?qr=...). Before the proof it shows the server, the action and the browser,
  then asks "Confirm? [y/N]" unless --yes. The keystore holds the account keys (mode 0600;
  default ${DEFAULT_KEYSTORE_SHOWN}). --stay keeps a login's connection (answering pings) until Ctrl-C.
  app listen shows each push (server, browser, and the number the browser shows for number
  match: type it, or --yes sends it), asks "Confirm? [y/N/r=deny and report]" unless --yes,
  and prints the outcome; Ctrl-C closes the connections and quits. app listen and
  app login --stay show each transaction (amount, beneficiary, description: the signed
  fields), ask "Approve? [y/N]" unless --yes, and approve with a second factor (--sf, else pin).
`,
};
/** Which help each command shows. */
const HELP_OF: Record<string, keyof typeof HELP> = {
  start: 'start',
  server: 'admin',
  key: 'admin',
  user: 'admin',
  account: 'admin',
  webhook: 'events',
  events: 'events',
  'oidc-client': 'oidc',
  'oidc-key': 'oidc',
  store: 'store',
  app: 'app',
};

const EXIT_CODES = 'Exit codes: 0 done, 1 the operation failed (the message gives the error code), 2 bad usage.\n';
const startOptions = () => `Options of start (each also an environment variable):
${Object.values(settings)
  .map((s) => `  --${s.flag.padEnd(20)} ${s.env.padEnd(28)} ${s.help}`)
  .join('\n')}
`;

/** `nextauth help`, or one command's help. */
function help(command?: string): string {
  const section = command === undefined ? undefined : HELP_OF[command];
  if (command !== undefined && !section) throw new UsageError(`Unknown command "${command}". Try nextauth help.`);
  if (section) return `nextauth ${command}\n\n${HELP[section]}\n${EXIT_CODES}${section === 'start' ? `\n${startOptions()}` : ''}`;
  return `nextauth <command> [options]      (nextauth help <command>: one command; nextauth --version)\n\n${Object.values(HELP).join('\n')}\n${EXIT_CODES}\n${startOptions()}`;
}

async function start(flags: Map<string, string>): Promise<void> {
  const config = loadConfig(flags);
  if (config.workers > 1 && cluster.isPrimary) return startWorkers(config.workers);
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // Signals are taken from the start: one that comes while the server starts stops it once started.
  let signalled: string | undefined;
  let stop: ((signal: string) => void) | undefined;
  const onSignal = (signal: string) => (stop ? stop(signal) : (signalled ??= signal));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // Imported here: the server's modules (fastify, socket.io, …) take a while to load, and the
  // other commands do not need them.
  const { startServer } = await import('../main.ts');
  const server = await startServer(config);
  const data = config.cluster ? 'a cluster process: records in PostgreSQL, sessions in Redis' : `data in ${config.dataDir}`;
  // One write: whoever reads "listening" has the root key line too.
  const { rootApiKey, demoServerId } = server.bootstrap;
  say(
    [
      `nextAuth server listening on ${server.url} (public URL ${config.publicUrl}), ${data}`,
      ...(rootApiKey ? [`Root api key (shown once, keep it safe): ${rootApiKey}`] : []),
      ...(demoServerId ? [`Demo server created: ${demoServerId}`] : []),
    ].join('\n'),
  );
  let stopping = false;
  stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping`);
    const timer = setTimeout(() => process.exit(1), 5000);
    timer.unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  if (signalled) stop(signalled);
}

/**
 * `start --workers N` (a cluster process only): N processes on one port, node's cluster module
 * handing out the connections. The first worker starts alone (a new database's root key is made
 * and printed once), then the others; one that dies is started again; SIGTERM / SIGINT stop them
 * all and then this process.
 */
async function startWorkers(n: number): Promise<void> {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let stopping = false;
  const live = new Set<Worker>();
  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork();
      live.add(worker);
      worker.once('listening', () => resolve(worker));
      worker.once('exit', (code, signal) => {
        live.delete(worker);
        if (stopping) {
          if (live.size === 0) process.exit(0);
          return;
        }
        reject(new OpError('WORKER_FAILED', `a worker stopped while starting (${signal ?? `exit ${code}`})`));
        say(`worker ${worker.process.pid} stopped (${signal ?? `exit ${code}`}): starting another`);
        setTimeout(() => void fork().catch(() => undefined), 1000).unref();
      });
    });
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping ${live.size} workers`);
    if (live.size === 0) process.exit(0);
    for (const worker of live) worker.process.kill('SIGTERM');
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await fork();
  await Promise.all(Array.from({ length: n - 1 }, fork));
  say(`${n} workers running (pids ${[...live].map((w) => w.process.pid).join(', ')})`);
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const [command = 'help'] = args.rest;
  if (args.flags.has('version') && command === 'help') {
    process.stdout.write(`nextauth ${version()}\n`);
    return;
  }
  if (command === 'help') {
    process.stdout.write(help(args.rest[1]));
    return;
  }
  if (args.flags.has('help')) {
    process.stdout.write(help(command));
    return;
  }
  if (command === 'start') return start(parseFlags(argv).flags);
  // Each kind of command loads only its own modules (start up stays quick).
  if (command === 'app') {
    const { askStdin, runApp } = await import('./phone.ts');
    const json = args.flags.get('json') === 'true';
    const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
    return runApp(args, { out: write(process.stdout), screen: write(json ? process.stderr : process.stdout), ask: askStdin });
  }
  if (command === 'store') {
    const { runStore } = await import('./store.ts');
    return runStore(args, (text) => void process.stdout.write(text));
  }
  if (['server', 'key', 'user', 'account', 'webhook', 'events', 'oidc-client', 'oidc-key'].includes(command)) {
    const { runAdmin } = await import('./admin.ts');
    process.stdout.write(await runAdmin(command, args));
    return;
  }
  throw new UsageError(`Unknown command "${command}". Try nextauth help.`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError || e instanceof ConfigError || e instanceof StoreDamagedError) {
    process.stderr.write(`nextauth: ${e.message}\n`);
    process.exit(2);
  }
  if (e instanceof OpError || e instanceof NsError) {
    process.stderr.write(`nextauth: ${e.code}: ${e.message}\n`);
    process.exit(1);
  }
  const code = (e as NodeJS.ErrnoException).code;
  if (e instanceof RunLockError || e instanceof WebBuildError || code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    process.stderr.write(`nextauth: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.stderr.write(`nextauth: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
