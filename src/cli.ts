/**
 * The `nextauth` command line. `start` runs the server; the other commands work on the data
 * folder of a stopped server, or on the REST API of a running one with --url and --key.
 */
import { ConfigError, loadConfig, parseFlags, settings } from './config.ts';
import { startServer } from './main.ts';
import { StoreDamagedError } from './store/lowdb-store.ts';

const usage = `nextauth <command> [options]

  start                      run the server (data in ./data unless --data)

Options (each also an environment variable):
${Object.values(settings).map((s) => `  --${s.flag.padEnd(20)} ${s.env.padEnd(28)} ${s.help}`).join('\n')}
`;

async function start(flags: Map<string, string>): Promise<void> {
  const config = loadConfig(flags);
  const server = await startServer(config);
  const say = (line: string) => process.stdout.write(line + '\n');
  say(`nextAuth server listening on ${server.url} (public URL ${config.publicUrl}), data in ${config.dataDir}`);
  if (server.bootstrap.rootApiKey) {
    say(`Root api key (shown once, keep it safe): ${server.bootstrap.rootApiKey}`);
  }
  if (server.bootstrap.demoServerId) say(`Demo server created: ${server.bootstrap.demoServerId}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping`);
    const timer = setTimeout(() => process.exit(1), 5000);
    timer.unref();
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export async function main(argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv);
  const [command = 'help'] = rest;
  if (command === 'help' || flags.has('help')) {
    process.stdout.write(usage);
    return;
  }
  switch (command) {
    case 'start':
      return start(flags);
    default:
      throw new ConfigError(`Unknown command "${command}". Try nextauth help.`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof ConfigError || e instanceof StoreDamagedError) {
    process.stderr.write(`nextauth: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`nextauth: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
