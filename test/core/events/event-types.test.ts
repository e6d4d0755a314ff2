/**
 * docs/events.md and the code say the same: its table of event types is EVENT_TYPES (no type
 * missing, none it does not have, none twice), and its settings table names the events'
 * settings of src/config.ts with their flags and nothing else.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { settings } from '../../../src/config.ts';
import { EVENT_TYPES } from '../../../src/core/events/event-types.ts';
import { ROOT } from '../../helpers/child.ts';

const doc = readFileSync(path.join(ROOT, 'docs', 'events.md'), 'utf8');

/** The first cells of the rows of the table under `heading` (up to the next heading). */
function firstCells(heading: string): string[] {
  const start = doc.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/events.md has "${heading}"`);
  const rest = doc.slice(start + heading.length + 2);
  const section = rest.slice(0, rest.search(/\n#{1,3} /) >>> 0);
  return section
    .split('\n')
    .map((l) => /^\|\s*`([^`]+)`\s*\|/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined);
}

test('the table of event types is EVENT_TYPES: every type once, none it does not have', () => {
  const listed = firstCells('## Event types');
  const known = Object.keys(EVENT_TYPES);
  assert.equal(
    known.filter((t) => !listed.includes(t)),
    [],
    'types of EVENT_TYPES missing from docs/events.md',
  );
  assert.equal(
    listed.filter((t) => !known.includes(t)),
    [],
    'types in docs/events.md that EVENT_TYPES does not have',
  );
  assert.equal(
    listed.filter((t, i) => listed.indexOf(t) !== i),
    [],
    'types listed twice',
  );
});

test('the settings table: each events setting with its flag, and only settings that exist', () => {
  const rows = doc.split('\n').filter((l) => l.startsWith('| `NEXTAUTH_'));
  const events = [settings.eventRetention, settings.eventMax, settings.webhooksPerServer, settings.webhookRetry, settings.webhookPrivate];
  for (const s of events) {
    const row = rows.find((r) => r.split('|')[1]!.includes(`\`${s.env}\``));
    assert.ok(row, `${s.env} has a row`);
    assert.ok(row!.split('|')[2]!.includes(`\`--${s.flag}\``), `${s.env}: its flag --${s.flag}`);
  }
  const envs = new Set<string>(Object.values(settings).map((s) => s.env));
  for (const name of doc.matchAll(/NEXTAUTH_[A-Z_]+/g)) assert.ok(envs.has(name[0]), `${name[0]}, named in docs/events.md, is a setting`);
});
test.run();
