/**
 * Where the CLI phone keeps its account keys unless `--keystore` says: outside any project
 * folder (a key file left in a repository gets committed), in the user's configuration folder,
 * `$XDG_CONFIG_HOME/nextauth/phone.json`, else `~/.config/nextauth/phone.json`. The file is made
 * with mode 0600 in a folder made with 0700 (src/sdk/file-keystore.ts).
 */
import os from 'node:os';
import path from 'node:path';

export const DEFAULT_KEYSTORE_SHOWN = '~/.config/nextauth/phone.json, or under $XDG_CONFIG_HOME';

export function defaultKeystore(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(config, 'nextauth', 'phone.json');
}
