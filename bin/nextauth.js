#!/usr/bin/env node
// The `nextauth` command: the CLI as `npm run build` compiled it (dist/server/cli.js).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/server/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('nextauth: the server is not built (dist/server/cli.js is missing): run `npm run build` in its folder first.\n');
  process.exit(2);
}
await import(cli.href);
