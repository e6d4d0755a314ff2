/**
 * The house's rules (../shared/DESIGN.md), checked on the source's own imports: machines import
 * only xstate and src/wire; src/wire imports nothing of the server; the SDK imports only src/wire;
 * the relying party's helper (src/rp) and the browser client (src/web/footer.ts) nothing of the server
 * (but, for src/rp, the webhook signature, itself made of src/wire/ and node:crypto);
 * nothing outside src/adapters/ imports a storage library; no cycle between folders; only core/
 * and adapters/ touch the Store's writes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function files(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory()) return files(rel);
    return /\.ts$/.test(name) ? [rel] : [];
  });
}

interface Import {
  from: string;
  /** A path relative to the root for a relative import; the package name otherwise. */
  to: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const out: Import[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)) {
    const spec = m[3]!;
    const to = spec.startsWith('.')
      ? path.normalize(path.join(path.dirname(file), spec))
      : spec.startsWith('node:')
        ? spec
        : spec
            .split('/')
            .slice(0, spec.startsWith('@') ? 2 : 1)
            .join('/');
    out.push({ from: file, to, typeOnly: m[2] !== undefined });
  }
  return out;
}

const all = [...files('src'), ...files('machines')];
const imports = all.flatMap(importsOf);
const inFolder = (f: string, dir: string) => f === dir || f.startsWith(`${dir}/`);

test('the scan sees the imports (it would pass by seeing nothing otherwise)', () => {
  assert.ok(all.length > 60, `${all.length} files`);
  assert.ok(imports.length > 300, `${imports.length} imports`);
  assert.ok(imports.some((i) => i.from === 'src/main.ts' && i.to === 'src/ports.ts'));
});

test('machines/ import only xstate and src/wire/', () => {
  const bad = imports.filter((i) => inFolder(i.from, 'machines') && !(i.to === 'xstate' || inFolder(i.to, 'src/wire') || inFolder(i.to, 'machines')));
  assert.equal(bad, []);
});

test('src/wire/ imports nothing of the server and does no I/O', () => {
  const bad = imports.filter((i) => inFolder(i.from, 'src/wire') && !(inFolder(i.to, 'src/wire') || ['@msgpack/msgpack', '@sinclair/typebox', 'tweetnacl'].includes(i.to)));
  assert.equal(bad, []);
});

test('the SDK imports only src/wire/ (and its own files, tweetnacl, node:fs for its file keystore)', () => {
  const bad = imports.filter(
    (i) =>
      inFolder(i.from, 'src/sdk') &&
      !(inFolder(i.to, 'src/wire') || inFolder(i.to, 'src/sdk') || i.to === 'tweetnacl' || (i.from === 'src/sdk/file-keystore.ts' && i.to.startsWith('node:'))),
  );
  assert.equal(bad, []);
});

/** The one file of the server @nextauth/node takes: the Standard Webhooks signature that its receivers verify. */
const WEBHOOK_SIGNATURE = 'src/core/events/sign-webhook.ts';

test("src/rp/ (the relying party's helper, @nextauth/node) imports only its own files, src/wire/, the webhook signature, and the types of fastify and node", () => {
  const bad = imports.filter(
    (i) =>
      inFolder(i.from, 'src/rp') &&
      !(inFolder(i.to, 'src/rp') || inFolder(i.to, 'src/wire') || i.to === WEBHOOK_SIGNATURE || (i.typeOnly && (i.to === 'fastify' || i.to.startsWith('node:')))),
  );
  assert.equal(bad, []);
  assert.ok(imports.some((i) => i.from === 'src/rp/express.ts' && i.to === 'src/rp/request.ts'));
  assert.ok(imports.some((i) => i.from === 'src/rp/index.ts' && i.to === WEBHOOK_SIGNATURE));
  // …which itself takes nothing of the server but src/wire/.
  const signature = imports.filter((i) => i.from === WEBHOOK_SIGNATURE);
  assert.ok(signature.length > 0);
  assert.equal(
    signature.filter((i) => !(inFolder(i.to, 'src/wire') || i.to === 'node:crypto')),
    [],
  );
});

test('the browser client (src/web/footer.ts, nextauth.ts that runs it, the words of i18n.ts; @nextauth/browser) imports nothing but socket.io-client types', () => {
  const client = ['src/web/footer.ts', 'src/web/nextauth.ts', 'src/web/i18n.ts'];
  const bad = imports.filter((i) => client.includes(i.from) && !(client.includes(i.to) || (i.typeOnly && i.to === 'socket.io-client')));
  assert.equal(bad, []);
});

test('nothing outside src/adapters/<name>/ imports a storage library', () => {
  const storage = ['lowdb', 'pg', 'postgres', 'ioredis', 'redis', 'better-sqlite3'];
  const bad = imports.filter((i) => storage.includes(i.to) && !inFolder(i.from, 'src/adapters'));
  assert.equal(bad, []);
  assert.ok(
    imports.some((i) => i.to === 'lowdb' && inFolder(i.from, 'src/adapters/lowdb')),
    'lowdb is used by its adapter',
  );
});

test('the core and the transports know adapters only through src/ports.ts (main.ts and the CLI put them together)', () => {
  const bad = imports.filter((i) => (inFolder(i.from, 'src/core') || inFolder(i.from, 'src/transports') || inFolder(i.from, 'src/web')) && inFolder(i.to, 'src/adapters'));
  assert.equal(bad, []);
});

test('no cycle between folders of src/ (type-only imports count too)', () => {
  const folderOf = (f: string) => {
    const parts = f.split('/');
    return parts[0] === 'src' && parts.length > 2 ? `src/${parts[1]}` : parts[0] === 'src' ? f : parts[0]!;
  };
  const edges = new Map<string, Set<string>>();
  for (const i of imports) {
    if (!i.to.startsWith('src/') && !i.to.startsWith('machines/')) continue;
    const a = folderOf(i.from);
    const b = folderOf(i.to);
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(b);
  }
  const cycles: string[] = [];
  const visit = (node: string, trail: string[]) => {
    if (trail.includes(node)) {
      cycles.push([...trail.slice(trail.indexOf(node)), node].join(' → '));
      return;
    }
    for (const next of edges.get(node) ?? []) visit(next, [...trail, node]);
  };
  for (const node of edges.keys()) visit(node, []);
  assert.equal([...new Set(cycles)], []);
  assert.ok(edges.get('src/transports')?.has('src/core'), 'transports call the core');
});

test.run();
