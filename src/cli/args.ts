/**
 * Arguments of the `nextauth` command line: flags that take a value, switches that do not, and
 * the two kinds of failure (bad usage: exit 2; a failed operation: exit 1).
 */

/** Bad usage: the message names the argument. Exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An operation the server (or the store) refused, with its error code. Exit code 1. */
export class OpError extends Error {
  override name = 'OpError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Flags that never take a value, so `--yes <qr>` leaves `<qr>` a positional argument. */
export const SWITCHES = new Set(['json', 'yes', 'unblock', 'help', 'version', 'stay', 'check', 'public']);

export interface Args {
  flags: Map<string, string>;
  /** Positional arguments, in order. */
  rest: string[];
}

/**
 * `--flag value`, `--flag=value`, switches (`--json`), and `--` ending the options. A flag that
 * is not a switch and is not followed by a value is "true" (as `parseFlags` in config.ts).
 */
export function parseArgs(argv: readonly string[]): Args {
  const flags = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg.length === 2) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (eq > 0) flags.set(name, arg.slice(eq + 1));
    else if (!SWITCHES.has(name) && i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags.set(name, argv[++i]!);
    else flags.set(name, 'true');
  }
  return { flags, rest };
}

/** Refuses flags the command does not know. */
export function checkFlags(flags: ReadonlyMap<string, string>, known: readonly string[], command: string): void {
  for (const name of flags.keys()) {
    if (!known.includes(name)) throw new UsageError(`${command}: unknown option --${name}`);
  }
}

/** A switch: absent, or given without a value / as true / false. */
export function switchOn(flags: ReadonlyMap<string, string>, name: string): boolean {
  const v = flags.get(name);
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw new UsageError(`--${name} takes no value (got "${v}")`);
}

/** A flag that needs a value (a bare `--name` is refused). */
export function flagValue(flags: ReadonlyMap<string, string>, name: string): string | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  if (v === 'true' || v === '') throw new UsageError(`--${name} needs a value`);
  return v;
}

/** Exactly `names.length` positional arguments after the command words. */
export function positionals(rest: readonly string[], names: readonly string[], command: string): string[] {
  if (rest.length < names.length) {
    throw new UsageError(`${command}: missing ${names.slice(rest.length).join(' ')} (usage: nextauth ${command} ${names.join(' ')})`);
  }
  if (rest.length > names.length) throw new UsageError(`${command}: unexpected argument "${rest[names.length]}"`);
  return [...rest];
}

/** A serverid: 22 base64url characters. */
export function serverIdArg(value: string, name = '<serverid>'): string {
  if (!/^[A-Za-z0-9_-]{22}$/.test(value)) throw new UsageError(`${name}: "${value.slice(0, 40)}" is not a serverid (22 base64url characters)`);
  return value;
}

/** An account id: a positive integer. */
export function accountIdArg(value: string, name = '<accountid>'): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name}: "${value.slice(0, 40)}" is not an account id (a positive integer)`);
  return n;
}

/** A userid: 1 to 256 characters. */
export function userIdArg(value: string, name = '<userid>'): string {
  if (value.length < 1 || value.length > 256) throw new UsageError(`${name}: must be 1 to 256 characters`);
  return value;
}
