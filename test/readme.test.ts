/**
 * The README as a newcomer follows it: every setting of src/config.ts is in its table with its
 * flag, and in its shell walk-through every variable is set before it is used.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { settings } from '../src/config.ts';
import { ROOT } from './helpers/child.ts';

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

test('every setting is in the table, with its variable and its flag in the same row', () => {
  const rows = readme.split('\n').filter((l) => l.startsWith('| `NEXTAUTH_'));
  for (const s of Object.values(settings)) {
    const row = rows.find((r) => r.split('|')[1]!.includes(`\`${s.env}\``));
    assert.ok(row, `${s.env} has a row`);
    assert.ok(row!.split('|')[2]!.includes(`\`--${s.flag}\``), `${s.env}: its flag --${s.flag} is in its row`);
  }
});

test('the walk-through sets every shell variable before it uses it', () => {
  const block = /## Using it[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the "Using it" shell block');
  const set = new Set<string>();
  const lines = block!.split('\n').filter((l) => !l.trimStart().startsWith('#'));
  for (const line of lines) {
    const code = line.replace(/'[^']*'/g, "''"); // nothing is expanded in single quotes
    for (const m of code.matchAll(/\$\{?([A-Z_][A-Z0-9_]*)/g)) assert.ok(set.has(m[1]!), `$${m[1]} is used before it is set: ${line.trim()}`);
    for (const m of code.matchAll(/(?:^|\s|export\s+)([A-Z_][A-Z0-9_]*)=/g)) set.add(m[1]!);
  }
  for (const name of ['NEXTAUTH_URL', 'NEXTAUTH_API_KEY', 'SRV', 'KEY', 'NONCE', 'ENROL', 'LOGIN']) assert.ok(set.has(name), `${name} is set`);
});

test.run();
