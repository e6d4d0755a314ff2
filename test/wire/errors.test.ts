/**
 * The error table (src/wire/errors.ts) against the source and the documents, in the manner of
 * fastify's test/internals/errors.test.js. It fails when:
 *  (a) src/ (or machines/) throws, sends, logs as `code:`, counts or closes with a code that is
 *      not in the table;
 *  (b) a table code is documented nowhere (neither in ../shared/PROTOCOL.md nor in docs/);
 *  (c) docs/errors.md's table disagrees with the table (REST status, app channel, level, message);
 *  (d) an HTTP error status is written by hand (`reply.code(404)`, `.status(500)`, a raw
 *      `HTTP/1.1 403`) outside the one helper, src/transports/http/reply-error.ts;
 *  (e) a code logged with a literal level (`log.info({code: 'X'})`) is logged at another level
 *      than the table's.
 * The scanners are tried on samples first, and must find a fair number of uses in the real
 * source, so that they never pass by finding nothing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errors, isErrorCode, NsError, specOf, statusOf, type ErrorCode, type ErrorSpec } from '../../src/wire/errors.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HELPER = 'src/transports/http/reply-error.ts';
/** The clients' own codes (SdkError of the phone SDK, OpError of the command line) are not the NS's. */
const CLIENTS = ['src/sdk/', 'src/cli/'];
const codes = Object.keys(errors) as ErrorCode[];

function walk(dir: string, names = /\.(ts|js|mjs)$/): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return walk(full, names);
    return names.test(name) ? [full] : [];
  });
}

interface SourceFile {
  file: string;
  text: string;
}

const sources: SourceFile[] = [...walk(path.join(ROOT, 'src')), ...walk(path.join(ROOT, 'machines'))]
  .map((full) => ({ file: path.relative(ROOT, full).split(path.sep).join('/'), text: readFileSync(full, 'utf8') }))
  .filter((s) => !CLIENTS.some((c) => s.file.startsWith(c)) && s.file !== 'src/wire/errors.ts');

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

// ───────────────────────── (a) the codes the source uses ─────────────────────────

const CODE = '[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*';
const QUOTED = new RegExp(String.raw`(['"\x60])(${CODE})\1`, 'g');

/** How this codebase names a code; each pattern's group `code` is the code. */
const USES: Array<{ how: string; re: RegExp }> = [
  // throw new NsError('X', ...)
  { how: 'thrown', re: new RegExp(String.raw`new NsError\(\s*(['"\x60])(?<code>${CODE})\1`, 'g') },
  // {code: 'X'} in a log object, a metric label, a machine's refuse params; `e.code : 'X'` fallbacks
  { how: 'code:', re: new RegExp(String.raw`\bcode\s*:\s*(['"\x60])(?<code>${CODE})\1`, 'g') },
  // socket.io and inspector acks {error: 'X'}
  { how: 'error:', re: new RegExp(String.raw`\berror\s*:\s*(['"\x60])(?<code>${CODE})\1`, 'g') },
  // the text socket's `ERROR X`
  { how: 'ERROR', re: new RegExp(String.raw`(['"\x60])ERROR (?<code>${CODE})\b`, 'g') },
  // ERROR_FUNCS below: refuse('X'), peer.refused(a ? 'X' : 'Y'), hub.fail(peer, s, 'X'), close(1008, 'X'), ...
];
/** Calls whose every quoted SCREAMING_CASE argument is a code (arguments nest parentheses two deep). */
const ERROR_CALLS = /\b(?:refuse|refused|fail|refusal|replyError|upgradeRefusal|specOf|statusOf|close)\(((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\)/g;
/** `errors.X` and `errors['X']` */
const TABLE_REFS = new RegExp(String.raw`\berrors(?:\.(?<a>${CODE})|\[\s*['"](?<b>${CODE})['"]\s*\])`, 'g');

interface Use {
  code: string;
  how: string;
  where: string;
}

function usesIn(file: string, text: string): Use[] {
  const found: Use[] = [];
  for (const { how, re } of USES) {
    for (const m of text.matchAll(re)) found.push({ code: m.groups!.code!, how, where: `${file}:${lineOf(text, m.index)}` });
  }
  for (const m of text.matchAll(ERROR_CALLS)) {
    for (const q of m[1]!.matchAll(QUOTED)) found.push({ code: q[2]!, how: 'call', where: `${file}:${lineOf(text, m.index)}` });
  }
  for (const m of text.matchAll(TABLE_REFS)) found.push({ code: (m.groups!.a ?? m.groups!.b)!, how: 'errors.', where: `${file}:${lineOf(text, m.index)}` });
  return found;
}

test('the use scanner finds every way this codebase names a code, and nothing else', () => {
  const sample = [
    "throw new NsError('ONE', 'why');",
    "log.warn({ serverid, code: 'TWO' }, 'x');",
    "ack({ error: e instanceof NsError ? e.code : 'THREE' });",
    "answer({ error: 'FOUR' });",
    'ws.send(`ERROR FIVE ` + hsid);',
    "if (isBinary) return refuse('SIX');",
    "return peer.refused(this.wasExpired(serverid, hsid) ? 'SEVEN' : 'EIGHT');",
    "return this.deps.hub.fail(this, hs.session, 'NINE');",
    "this.link.close(1008, 'TEN');",
    "return replyError(reply, 'ELEVEN', 'No such payment');",
    "params: ({ event }) => ({ peer: event.peer, code: 'TWELVE_13' }),",
    'x = errors.FOURTEEN.message; y = errors["FIFTEEN"];',
    // not codes
    "send(status.state === 'authenticated' ? 'LOGIN' : 'LOGOUT', hsid, serverid);",
    "ws.close(1001, 'server stopping'); process.env.NEXTAUTH_PORT; const x = 'ABC_DEF';",
  ].join('\n');
  const found = usesIn('sample.ts', sample).map((u) => u.code);
  assert.equal([...new Set(found)].sort(), ['EIGHT', 'ELEVEN', 'FIFTEEN', 'FIVE', 'FOUR', 'FOURTEEN', 'NINE', 'ONE', 'SEVEN', 'SIX', 'TEN', 'THREE', 'TWELVE_13', 'TWO'].sort());
});

const uses = sources.flatMap((s) => usesIn(s.file, s.text));

test('the scan of the real source finds a fair number of uses, by every pattern', () => {
  const distinct = new Set(uses.map((u) => u.code));
  assert.ok(sources.length > 50, `files scanned: ${sources.length}`);
  assert.ok(distinct.size > 20, `distinct codes found: ${distinct.size}`);
  assert.ok(uses.length > 80, `uses found: ${uses.length}`);
  for (const how of [...USES.map((u) => u.how), 'call', 'errors.']) {
    if (how === 'ERROR') continue; // the text socket sends `ERROR ${code}` from a variable today
    assert.ok(
      uses.some((u) => u.how === how),
      `no use found by the "${how}" pattern`,
    );
  }
});

test('(a) every code the source throws, sends, logs, counts or closes with is in the table', () => {
  const missing = uses.filter((u) => !isErrorCode(u.code));
  assert.equal(
    missing.map((u) => `${u.code} (${u.how}) at ${u.where}`),
    [],
    'codes used but not in src/wire/errors.ts: add them to the table or use one of its codes',
  );
});

// ───────────────────────── the table itself ─────────────────────────

test('every entry is well formed', () => {
  for (const code of codes) {
    const spec: ErrorSpec = specOf(code);
    assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, code);
    assert.ok(spec.status === null || (Number.isInteger(spec.status) && spec.status >= 400 && spec.status <= 599), `${code}: status ${spec.status}`);
    assert.ok(spec.app === null || spec.app === 'error' || spec.app === 1008 || spec.app === 1009, `${code}: app ${String(spec.app)}`);
    assert.ok(spec.sealed === undefined || spec.app === 'error', `${code}: "sealed" refines an error frame`);
    assert.ok(['info', 'warn', 'error'].includes(spec.level), `${code}: level ${spec.level}`);
    assert.ok(spec.message.length > 0 && !spec.message.includes('|') && spec.message.trim() === spec.message, `${code}: message`);
    // A fault of ours (5xx) is an error; a client's (4xx) never is.
    if (spec.status !== null) assert.is(spec.level === 'error', spec.status >= 500, `${code}: ${spec.status} logs at ${spec.level}`);
    assert.ok(spec.status !== null || spec.app !== 'error', `${code}: an answer on the app channel needs a status (NsError.status)`);
  }
});

test('NsError, isErrorCode and statusOf read the table', () => {
  const e = new NsError('UNKNOWN_USER');
  assert.is(e.code, 'UNKNOWN_USER');
  assert.is(e.status, 404);
  assert.is(e.message, errors.UNKNOWN_USER.message);
  assert.is(e.level, 'info');
  assert.is(e.name, 'NsError');
  assert.ok(e instanceof Error);
  assert.is(new NsError('BAD_REQUEST', 'body/x: required').message, 'body/x: required');
  assert.is(new NsError('INTERNAL').level, 'error');
  assert.ok(isErrorCode('BAD_FRAME'));
  assert.not.ok(isErrorCode('toString'));
  assert.not.ok(isErrorCode('NOPE'));
  assert.not.ok(isErrorCode(42));
  assert.is(statusOf('RATE_LIMITED'), 429);
  assert.is(statusOf('PUSH_FAILED'), 500, 'a code that is never an answer');
});

// ───────────────────────── (b), (c) the documents ─────────────────────────

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
const protocol = read(path.resolve(ROOT, '../shared/PROTOCOL.md'));
const docs = walk(path.join(ROOT, 'docs'), /\.md$/).map((f) => ({ file: f, text: read(f) }));
const errorsMd = read(path.join(ROOT, 'docs/errors.md'));

test('(b) every table code is documented: in PROTOCOL.md or in docs/', () => {
  const documented = (code: string) => [protocol, ...docs.map((d) => d.text)].some((text) => new RegExp(String.raw`\b${code}\b`).test(text));
  assert.equal(
    codes.filter((c) => !documented(c)),
    [],
  );
});

/** How docs/errors.md writes a code's app channel behaviour. */
const appCell = (spec: ErrorSpec): string => {
  if (spec.app === null) return '—';
  if (spec.app === 'error') return spec.sealed === undefined ? 'error frame' : `error frame; sealed: close ${spec.sealed}`;
  return `close ${spec.app}`;
};

/** The rows of docs/errors.md's table: code → [REST, app channel, level, message]. */
function docRows(text: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    assert.not.ok(rows.has(m[1]!), `docs/errors.md lists ${m[1]} twice`);
    rows.set(
      m[1]!,
      m[2]!.split('|').map((c) => c.trim()),
    );
  }
  return rows;
}

test('(c) docs/errors.md lists every code once, as the table says', () => {
  assert.ok(errorsMd.length > 0, 'docs/errors.md exists');
  const rows = docRows(errorsMd);
  assert.equal(
    [...rows.keys()].filter((c) => !isErrorCode(c)),
    [],
    'rows for codes not in the table',
  );
  assert.equal(
    codes.filter((c) => !rows.has(c)),
    [],
    'codes without a row in docs/errors.md',
  );
  for (const code of codes) {
    const spec = specOf(code);
    const [rest, app, level, message, when] = rows.get(code)!;
    const expected = `| \`${code}\` | ${spec.status ?? '—'} | ${appCell(spec)} | ${spec.level} | ${spec.message} | …`;
    assert.is(rest, String(spec.status ?? '—'), `${code} REST status; the row should read ${expected}`);
    assert.is(app, appCell(spec), `${code} app channel; the row should read ${expected}`);
    assert.is(level, spec.level, `${code} log level; the row should read ${expected}`);
    assert.is(message, spec.message, `${code} message; the row should read ${expected}`);
    assert.ok((when ?? '').length > 0, `${code}: say when it happens`);
  }
});

// ───────────────────────── (d) HTTP statuses by hand ─────────────────────────

/** Literal 4xx/5xx statuses written by hand: `.code(404)`, `.status(cond ? 200 : 409)`, `statusCode = 500`, `HTTP/1.1 403`. */
function handWrittenStatuses(file: string, text: string): string[] {
  const found: string[] = [];
  const calls = /\.(?:code|status)\(((?:[^()]|\([^()]*\))*)\)/g;
  for (const m of text.matchAll(calls)) {
    if (/(?<![\w.])[45]\d\d(?![\w.])/.test(m[1]!)) found.push(`${file}:${lineOf(text, m.index)}: ${m[0]}`);
  }
  for (const m of text.matchAll(/\b(?:statusCode|status)\s*=\s*[45]\d\d\b|HTTP\/1\.[01] [45]\d\d/g)) found.push(`${file}:${lineOf(text, m.index)}: ${m[0]}`);
  return found;
}

test('the status scanner flags hand-written error statuses and nothing else', () => {
  const flagged = (s: string) => handWrittenStatuses('sample.ts', s).length;
  assert.is(flagged("reply.code(404).send({ message: 'No such payment' })"), 1);
  assert.is(flagged('reply\n  .code(tid ? 200 : 409)\n  .send(x)'), 1);
  assert.is(flagged('reply.status(500).send()'), 1);
  assert.is(flagged("(reply as unknown as X).code(400).send({ code: 'BAD_REQUEST' })"), 1);
  assert.is(flagged("socket.end('HTTP/1.1 403 Forbidden\\r\\n')"), 1);
  assert.is(flagged('reply.statusCode = 404;'), 1);
  assert.is(flagged("reply.code(303).header('location', '/')"), 0);
  assert.is(flagged('reply.code(304).send()'), 0);
  assert.is(flagged('hub.status(server.serverid, hsid)'), 0);
  assert.is(flagged('reply.code(statusOf(code)).send({ code, message })'), 0);
  assert.is(flagged('if (res.statusCode >= 400) throw e;'), 0);
});

test('(d) no HTTP error status is written by hand outside the helper', () => {
  assert.ok(
    sources.some((s) => s.file === HELPER),
    `${HELPER} exists`,
  );
  const found = sources.filter((s) => s.file !== HELPER).flatMap((s) => handWrittenStatuses(s.file, s.text));
  assert.equal(found, [], `answer errors with replyError(reply, code) from ${HELPER}`);
});

// ───────────────────────── (e) log levels ─────────────────────────

test('(e) a code logged at a literal level is logged at the table level', () => {
  const logged = /\.(info|warn|error)\(\s*\{[^{}]*?\bcode\s*:\s*'([A-Z][A-Z0-9_]*)'/g;
  const seen: string[] = [];
  const wrong: string[] = [];
  for (const { file, text } of sources) {
    for (const m of text.matchAll(logged)) {
      const [, level, code] = m as unknown as [string, string, string];
      seen.push(code);
      if (isErrorCode(code) && errors[code].level !== level) wrong.push(`${file}:${lineOf(text, m.index)}: ${code} at ${level}, the table says ${errors[code].level}`);
    }
  }
  assert.ok(seen.length >= 3, `logged codes found: ${seen.join(', ')}`);
  assert.equal(wrong, []);
});

test.run();
