/**
 * The npm packages (packages/<name>, built from src/ by scripts/build.ts): each package.json says
 * what a published package must (name, version, ES module, `exports` with `types`, `files`, its
 * dependencies: every package its JavaScript imports), `npm pack` takes exactly the built files
 * and the README; installed from its tarball into a project of its own, every entry imports and
 * works, and a consumer file type-checks against the declarations (and fails where it should),
 * as do the examples (examples/<name>/server.js).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensurePackagesBuild, ensureWebBuild, PACKAGES, whyPackagesStale } from '../../scripts/build.ts';
import { ROOT } from '../helpers/child.ts';

const run = promisify(execFile);

interface PackageJson {
  name: string;
  version: string;
  type: string;
  main: string;
  types: string;
  exports: Record<string, string | { types: string; default: string }>;
  files: string[];
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const NAMES = ['app', 'browser', 'node'];
const read = (dir: string): PackageJson => JSON.parse(readFileSync(path.join(ROOT, 'packages', dir, 'package.json'), 'utf8')) as PackageJson;
const targets = (pkg: PackageJson) => Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : [t.types, t.default]));
const rootPkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson & { devDependencies: Record<string, string>; workspaces: string[] };

let tmp: string;
/** What `npm pack --json` said of each package. */
const packed = new Map<string, { filename: string; files: Array<{ path: string }> }>();

test.before(async () => {
  ensureWebBuild();
  ensurePackagesBuild();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nextauth-packages-'));
  // The three at once: each `npm pack` is mostly npm starting.
  await Promise.all(
    NAMES.map(async (dir) => {
      const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: path.join(ROOT, 'packages', dir) });
      packed.set(dir, (JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0]!);
    }),
  );
});
test.after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the workspaces are the packages, and the build knows each one', () => {
  assert.ok(rootPkg.workspaces.includes('packages/*'));
  assert.equal(readdirSync(path.join(ROOT, 'packages')).sort(), NAMES);
  assert.equal(PACKAGES.map((p) => p.dir).sort(), NAMES);
  assert.is(whyPackagesStale(), undefined, 'fresh once built');
});

test('each package.json: @nextauth/<name>, the version, an ES module, exports with types first, files, a README with install and example', () => {
  for (const dir of NAMES) {
    const pkg = read(dir);
    assert.is(pkg.name, `@nextauth/${dir}`);
    assert.is(pkg.version, rootPkg.version);
    assert.is(pkg.type, 'module');
    assert.equal(pkg.files, ['dist']);
    assert.is(pkg.exports['./package.json'], './package.json');
    // For resolvers that know no `exports` (older Metro, TypeScript's node10): the main entry.
    const main = pkg.exports['.'] as { types: string; default: string };
    assert.equal([pkg.main, pkg.types], [main.default, main.types]);
    for (const [key, t] of Object.entries(pkg.exports)) {
      if (typeof t === 'string') continue;
      assert.equal(Object.keys(t), ['types', 'default'], `${pkg.name} ${key}: types first (TypeScript takes the first condition that matches)`);
      assert.match(t.types, /^\.\/dist\/types\/.*\.d\.ts$/);
    }
    // Each entry of the build is an export, and the other way round.
    const spec = PACKAGES.find((p) => p.dir === dir)!;
    const built = [...Object.keys(spec.entries).map((e) => `./dist/${e}.js`), ...(spec.web ?? []).map((w) => `./dist/${w}`)].sort();
    assert.equal(
      targets(pkg)
        .filter((t) => !t.endsWith('.d.ts') && t !== './package.json')
        .sort(),
      built,
    );
    const readme = readFileSync(path.join(ROOT, 'packages', dir, 'README.md'), 'utf8');
    assert.ok(readme.startsWith(`# @nextauth/${dir}\n`));
    assert.ok(readme.includes(`npm install @nextauth/${dir}`));
    assert.match(readme, new RegExp(`\`\`\`(ts|js)\\n[^]*from '@nextauth/${dir}[/']`));
  }
});

test('the JavaScript imports only the dependencies it declares (peers for the frameworks) and node: modules', () => {
  for (const dir of NAMES) {
    const pkg = read(dir);
    const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
    const distDir = path.join(ROOT, 'packages', dir, 'dist');
    const js = packed
      .get(dir)!
      .files.map((f) => f.path)
      .filter((f) => f.endsWith('.js') && f !== 'dist/nextauth.js');
    const imported = new Set<string>();
    for (const f of js) {
      const text = readFileSync(path.join(distDir, '..', f), 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*"([^"]+)"|(?:^|\n)import\s*"([^"]+)"/g)) imported.add((m[1] ?? m[2])!);
    }
    const bare = [...imported]
      .filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
      .map((s) =>
        s
          .split('/')
          .slice(0, s.startsWith('@') ? 2 : 1)
          .join('/'),
      );
    for (const name of bare) assert.ok(declared.has(name), `${pkg.name} imports ${name} without declaring it`);
    for (const name of Object.keys(pkg.dependencies ?? {})) {
      assert.ok(bare.includes(name), `${pkg.name} declares ${name} and does not use it`);
      assert.is(pkg.dependencies![name], (rootPkg as unknown as { dependencies: Record<string, string> }).dependencies[name], `${name}: the version the server is tested with`);
    }
    for (const name of Object.keys(pkg.peerDependencies ?? {})) assert.ok(pkg.peerDependenciesMeta?.[name]?.optional, `${name}: an optional peer`);
  }
  assert.equal(Object.keys(read('node').peerDependencies ?? {}), ['express', 'fastify']);
  assert.equal(read('browser').dependencies ?? {}, {}, 'the browser client has no dependency');
});

test('npm pack takes every export, the declarations they import, the README, and nothing else', () => {
  for (const dir of NAMES) {
    const pkg = read(dir);
    const files = packed
      .get(dir)!
      .files.map((f) => f.path)
      .sort();
    for (const t of targets(pkg)) assert.ok(files.includes(t.replace(/^\.\//, '')), `${pkg.name}: ${t} is packed`);
    assert.ok(files.includes('README.md') && files.includes('package.json'));
    const other = files.filter((f) => !/^dist\/.*\.(js|d\.ts|css)$/.test(f) && f !== 'README.md' && f !== 'package.json');
    assert.equal(other, [], `${pkg.name}: no sources, no tsconfig, no manifest`);
    // Every relative import of a declaration file is packed (as .d.ts beside it).
    for (const f of files.filter((x) => x.endsWith('.d.ts'))) {
      const text = readFileSync(path.join(ROOT, 'packages', dir, f), 'utf8');
      for (const m of text.matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        assert.ok(m[1]!.endsWith('.js'), `${f}: ${m[1]} ends in .js`);
        const target = path.posix.join(path.posix.dirname(f), m[1]!.replace(/\.js$/, '.d.ts'));
        assert.ok(files.includes(target), `${f} imports ${target}, which is packed`);
      }
    }
  }
  // The browser package ships the footer script and stylesheet as the NS serves them.
  for (const name of ['nextauth.js', 'nextauth.css']) {
    assert.ok(readFileSync(path.join(ROOT, 'packages/browser/dist', name)).equals(readFileSync(path.join(ROOT, 'dist/web', name))), `${name} as dist/web has it`);
  }
});

test('installed from the tarballs: every entry imports and works; a consumer and the examples type-check against the declarations', async () => {
  const project = path.join(tmp, 'consumer');
  const modules = path.join(project, 'node_modules');
  mkdirSync(path.join(modules, '@nextauth'), { recursive: true });
  // Their dependencies (and the consumer's: express, fastify, their types) from the project's node_modules.
  for (const name of readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name === '@nextauth' || name.startsWith('.')) continue;
    symlinkSync(path.join(ROOT, 'node_modules', name), path.join(modules, name));
  }
  for (const dir of NAMES) {
    const into = path.join(modules, '@nextauth', dir);
    mkdirSync(into);
    await run('tar', ['-xzf', path.join(tmp, packed.get(dir)!.filename), '-C', into, '--strip-components=1']);
  }
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));

  writeFileSync(
    path.join(project, 'use.mjs'),
    `import assert from 'node:assert/strict';
import * as app from '@nextauth/app';
import { FileKeyStore } from '@nextauth/app/file-keystore';
import * as browser from '@nextauth/browser';
import * as node from '@nextauth/node';
import * as express from '@nextauth/node/express';
import fastifyPlugin, * as fastify from '@nextauth/node/fastify';
import Fastify from 'fastify';

// Where each name comes from: the package in this project, not the workspace.
assert.match(import.meta.resolve('@nextauth/node/fastify'), /consumer\\/node_modules\\/@nextauth\\/node\\/dist\\/fastify\\.js$/);
const out = {};
for (const [name, m] of Object.entries({ app, browser, node, express, fastify })) out[name] = Object.keys(m).sort();
assert.throws(() => app.parseQrText('not a code'), (e) => e instanceof app.SdkError && e.code === 'BAD_QR');
assert.equal(typeof new FileKeyStore('/nonexistent/keys.json').list, 'function');
assert.match(node.newNonce(), /^[A-Za-z0-9_-]{32}$/);
assert.equal(fastifyPlugin, fastify.nextAuth);
// A webhook delivery signed by hand (Standard Webhooks) verifies; a changed body does not.
const { createHmac } = await import('node:crypto');
const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
const body = '{"type":"com.nextauth.session.login"}';
const now = Date.now();
const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(Math.floor(now / 1000)) };
headers['webhook-signature'] = 'v1,' + createHmac('sha256', Buffer.alloc(32, 7)).update(\`evt_1.\${headers['webhook-timestamp']}.\${body}\`).digest('base64');
node.verifyWebhook(secret, headers, body, { now });
assert.throws(() => node.verifyWebhook(secret, headers, body + ' ', { now }), node.WebhookVerificationError);
// The plugin, as built: req.nextauth in a child plugin, the cookie set, the client asked.
const asked = [];
const client = { serverid: 's', getSession: async (nonce) => (asked.push(nonce), { loggedin: true, userid: 'alice', canprovoke: true, hsid: 'h' }) };
const f = Fastify();
await f.register(fastifyPlugin, { client });
await f.register(async (child) => child.get('/', async (req) => (await req.nextauth.session()).userid));
const res = await f.inject({ url: '/' });
assert.equal(res.body, 'alice');
assert.equal(res.headers['set-cookie'].split('=')[0], 'nextauth');
assert.deepEqual(asked, [res.headers['set-cookie'].split('=')[1].split(';')[0]]);
console.log(JSON.stringify(out));
`,
  );
  const { stdout } = await run(process.execPath, ['use.mjs'], { cwd: project });
  assert.equal(JSON.parse(stdout), {
    app: [
      'AppConnection',
      'MemoryKeyStore',
      'Phone',
      'SdkError',
      'answerTransaction',
      'counterNonce',
      'fromB64',
      'fromB64url',
      'naclSigner',
      'openPushPayload',
      'parseQr',
      'parseQrText',
      'pushToQr',
      'readTransaction',
      'toB64',
      'toB64url',
    ],
    browser: ['startNextAuth'],
    node: ['NextAuthError', 'WebhookVerificationError', 'createNextAuth', 'isNonce', 'newNonce', 'readCookie', 'requestNextAuth', 'verifyWebhook'],
    express: ['nextAuth'],
    fastify: ['default', 'nextAuth'],
  });

  writeFileSync(
    path.join(project, 'consumer.ts'),
    `import { MemoryKeyStore, Phone, parseQrText, SdkError, type ChallengeInfo, type QrCode } from '@nextauth/app';
import { FileKeyStore } from '@nextauth/app/file-keystore';
import { startNextAuth, type NextAuthApi, type NextAuthEventDetail } from '@nextauth/browser';
import { createNextAuth, NextAuthError, verifyWebhook, WebhookVerificationError, type NextAuthClient, type Session } from '@nextauth/node';
import { nextAuth } from '@nextauth/node/express';
import fastifyNextAuth from '@nextauth/node/fastify';
import express from 'express';
import Fastify from 'fastify';

const phone = new Phone({ keystore: new MemoryKeyStore(), consent: (info: ChallengeInfo) => ({ accept: info.name.length > 0 }) });
const code: QrCode = parseQrText('nextauth:?qr=AA');
export const login = () => phone.login(code).then((r) => r.connection.close());
export const keys = new FileKeyStore('keys.json');
export const isSdkError = (e: unknown) => e instanceof SdkError && e.code === 'BAD_QR';

const api: NextAuthApi = startNextAuth({ ns: 'https://ns.example', callback: (d: NextAuthEventDetail) => d.loggedin });
document.addEventListener('nextauth', (e) => api.logout(e.detail.srv, e.detail.hsid));

const client: NextAuthClient = createNextAuth({ url: 'https://ns.example', apiKey: 'key', serverid: 'srv' });
const site = express();
site.use(nextAuth({ client, cookie: { secure: 'auto' } }));
site.get('/', async (req, res) => {
  const s: Session = await req.nextauth.session();
  res.send(s.loggedin ? \`Hello \${s.userid}\` : (await req.nextauth.loginBlock()) + (await req.nextauth.footer({ callback: 'app.onLogin' })));
});
const app = Fastify();
await app.register(fastifyNextAuth, { url: 'https://ns.example', apiKey: 'key', serverid: 'srv' });
app.get('/', async (req) => (await req.nextauth.session()).userid ?? 'nobody');
export const status = (e: NextAuthError): number => e.status;
export const delivered = (headers: Record<string, string | string[] | undefined>, body: string): boolean => {
  try {
    verifyWebhook('whsec_key', headers, body, { toleranceSeconds: 60 });
    return true;
  } catch (e) {
    if (e instanceof WebhookVerificationError) return false;
    throw e;
  }
};

// What must not type-check:
// @ts-expect-error a nonce is a string
await client.getSession(5);
// @ts-expect-error the keystore is required
new Phone({});
// @ts-expect-error startNextAuth needs the NS
startNextAuth({});
// @ts-expect-error no such method
void app.get('/x', async (req) => req.nextauth.sessions());
// @ts-expect-error the body is the raw text, not parsed JSON
verifyWebhook('whsec_key', {}, { type: 'x' });
`,
  );
  for (const name of ['express', 'fastify']) copyFileSync(path.join(ROOT, 'examples', name, 'server.js'), path.join(project, `${name}.js`));
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022', 'DOM'],
        types: ['node'],
        noEmit: true,
        skipLibCheck: false,
        // The examples (// @ts-check) are consumers too.
        allowJs: true,
      },
      files: ['consumer.ts', 'express.js', 'fastify.js'],
    }),
  );
  const tsc = await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project]).then(
    () => '',
    (e: { stdout?: string }) => e.stdout ?? String(e),
  );
  assert.is(tsc, '', 'the consumer type-checks');
});

test.run();
