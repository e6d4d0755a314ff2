/**
 * /openapi.json (issue #17): the document the server makes from its route schemas is OpenAPI 3.1
 * that two independent checkers accept, and it names every nextAuth 2.2 operation.
 *
 * - `@apidevtools/swagger-parser` validates it against the OpenAPI 3.1 schema (and resolves its
 *   `$ref`s). It mutates what it is given: it gets a copy.
 * - `@redocly/cli lint` (run once: the CLI takes a few seconds to start) with the ruleset
 *   `recommended-strict`: every rule of `recommended`, its warnings raised to errors, so the
 *   document must lint with no problem at all, warnings included. Two changes, written in the
 *   config below: `no-path-trailing-slash` is off because the 2.2 paths end in `/` (`/servers/`,
 *   `/apikeys/`, `/servers/{serverid}/users/{userid}/`…) and our operations stay at those paths;
 *   `operation-tag-defined` is on, so every tag an operation names is declared, with its
 *   description, at the top. Telemetry and update notices are off (env and config).
 * - The 2.2 contract, docs/spec/nextauth-api-2.2.yaml (a copy of ../shared/spec/, which
 *   PROTOCOL.md §6 names; where that is checked out beside the repository, the copy must be
 *   the same bytes), read with swagger-parser's `parse`, which reads YAML: each of its
 *   operations is in ours under the same method, path and operationId, and ours adds only the
 *   POST aliases of 2.2 GETs (`…Post`) and the operations of the tags Webhooks, Events and
 *   OpenID Connect, each marked `x-addition`.
 * - Answers that are not JSON are declared with their media types, and the server answers with
 *   one of the declared types.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../../helpers/ns.ts';
import { newNonce } from '../../helpers/peers.ts';
import { newServer } from '../../helpers/rest.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SPEC = path.join(ROOT, 'docs', 'spec', 'nextauth-api-2.2.yaml');
/** The contract itself, beside the repository where it is checked out (not in CI's fresh clone). */
const CONTRACT = path.resolve(ROOT, '../shared/spec/nextauth-api-2.2.yaml');
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

/** The operations we add to 2.2 (each with `x-addition`). */
const ADDED_OPERATIONS = [
  'createWebhook',
  'getWebhooks',
  'getWebhook',
  'updateWebhook',
  'deleteWebhook',
  'rotateWebhookSecret',
  'getWebhookAttempts',
  'getEvents',
  'createOidcClient',
  'rotateOidcKeys',
  'getOidcClients',
  'deleteOidcClient',
];

interface Operation {
  operationId?: string;
  'x-addition'?: string;
  tags?: string[];
  requestBody?: unknown;
  responses: Record<string, { $ref?: string; description?: string; content?: Record<string, { schema?: Record<string, unknown> }> }>;
}
type Doc = { openapi: string; paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>; [key: string]: unknown };

let ns: TestServer;
let doc: Doc;
test.before(async () => {
  ns = await startTestServer();
  const reply = await ns.api<Doc>('GET', '/openapi.json', { key: null });
  assert.is(reply.status, 200);
  doc = reply.body;
});
test.after(() => ns.stop(true));

/** Every operation of a document: method, path, operation. */
const operations = (d: { paths: Doc['paths'] }) => Object.entries(d.paths).flatMap(([p, item]) => METHODS.flatMap((m) => (item[m] ? [{ method: m, path: p, op: item[m]! }] : [])));

test('OpenAPI 3.1.0, valid for swagger-parser', async () => {
  assert.is(doc.openapi, '3.1.0');
  await SwaggerParser.validate(structuredClone(doc) as unknown as Parameters<typeof SwaggerParser.validate>[0]);
});

test('redocly lint (recommended-strict, trailing slashes allowed, tags defined): no error, no warning', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nextauth-openapi-'));
  try {
    writeFileSync(path.join(dir, 'openapi.json'), JSON.stringify(doc));
    writeFileSync(
      path.join(dir, 'redocly.yaml'),
      [
        'extends:',
        '  - recommended-strict',
        'rules:',
        '  # The 2.2 paths end in "/" and our operations keep them.',
        '  no-path-trailing-slash: off',
        '  operation-tag-defined: error',
        'telemetry: off',
        '',
      ].join('\n'),
    );
    const bin = path.join(ROOT, 'node_modules/.bin/redocly');
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', REDOCLY_SUPPRESS_NOTIFICATIONS: 'true', NO_COLOR: '1' };
    const stdout = await new Promise<string>((resolve, reject) =>
      // Exit status 1 when it finds errors: the report on stdout says which.
      execFile(bin, ['lint', 'openapi.json', '--config', 'redocly.yaml', '--format=json'], { cwd: dir, env, timeout: 60_000 }, (err, out, errText) =>
        out.trim().startsWith('{') ? resolve(out) : reject(err ?? new Error(`redocly printed no report: ${errText}`)),
      ),
    );
    const report = JSON.parse(stdout) as {
      totals: { errors: number; warnings: number };
      problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
    };
    const problems = report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    assert.equal(problems, []);
    assert.equal(report.totals, { ...report.totals, errors: 0, warnings: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every 2.2 operation under its method, path and operationId; ours adds only POST aliases of 2.2 GETs and the webhook, event and OIDC client operations', async () => {
  assert.ok(existsSync(SPEC), `${SPEC} (the 2.2 contract) is missing`);
  if (existsSync(CONTRACT)) assert.ok(readFileSync(CONTRACT).equals(readFileSync(SPEC)), `docs/spec/ holds the contract as ${CONTRACT} has it`);
  const spec = (await SwaggerParser.parse(SPEC)) as unknown as { swagger: string; paths: Doc['paths'] };
  assert.is(spec.swagger, '2.0');
  const theirs = operations(spec);
  assert.ok(theirs.length >= 50, `${theirs.length} operations in 2.2`);
  const missing = theirs
    .filter(({ method, path: p, op }) => doc.paths[p]?.[method]?.operationId !== op.operationId)
    .map(({ method, path: p, op }) => `${op.operationId}: ${method.toUpperCase()} ${p} (ours: ${doc.paths[p]?.[method]?.operationId ?? 'none'})`);
  assert.equal(missing, []);

  const ids = new Set(theirs.map(({ op }) => op.operationId));
  const extra = operations(doc).filter(({ op }) => !ids.has(op.operationId));
  // Our additions (webhooks, the audit trail, OIDC clients) say so with x-addition, under tags of their own.
  const additions = extra.filter(({ op }) => op['x-addition'] !== undefined);
  assert.equal(additions.map(({ op }) => op.operationId).sort(), [...ADDED_OPERATIONS].sort());
  for (const { op } of additions)
    assert.ok(
      op.tags?.every((t) => t === 'Webhooks' || t === 'Events' || t === 'OpenID Connect'),
      `${op.operationId}: tagged ${op.tags}`,
    );
  for (const { method, path: p, op } of extra.filter((e) => !additions.includes(e))) {
    assert.is(method, 'post', `${op.operationId} is not in 2.2`);
    assert.is(doc.paths[p]?.get?.operationId, op.operationId?.replace(/Post$/, ''), `${op.operationId}: the POST alias of the GET of ${p}`);
  }
  const all = operations(doc).map(({ op }) => op.operationId);
  assert.is(new Set(all).size, all.length, 'operationIds are unique');
});

/** The media types an operation's 200 answer declares. */
const mediaTypes = (p: string, method: 'get' | 'post', operationId: string) => {
  const op = doc.paths[p]?.[method];
  assert.is(op?.operationId, operationId);
  return Object.keys(op!.responses['200']?.content ?? {}).sort();
};

test('the QR codes answer png and svg pictures (or raw bytes), the visual hash png, the blocks HTML: declared so, and answered so', async () => {
  const qr = ['application/octet-stream', 'image/png', 'image/svg+xml'];
  for (const method of ['get', 'post'] as const) {
    assert.equal(mediaTypes('/servers/{serverid}/sessions/qr/login', method, method === 'get' ? 'getQrLogin' : 'getQrLoginPost'), qr);
  }
  assert.equal(mediaTypes('/servers/{serverid}/sessions/qr/enrol', 'get', 'getQrEnrol'), qr);
  assert.equal(mediaTypes('/servers/{serverid}/vash', 'get', 'getServerVash'), ['image/png']);
  for (const block of ['login', 'enrol', 'footer']) {
    const id = `getHtml${block[0]!.toUpperCase()}${block.slice(1)}`;
    for (const method of ['get', 'post'] as const) {
      assert.equal(mediaTypes(`/servers/{serverid}/sessions/html/${block}`, method, method === 'get' ? id : `${id}Post`), ['text/html']);
    }
  }
  const png = doc.paths['/servers/{serverid}/sessions/qr/login']!.get!.responses['200']!.content!['image/png']!.schema!;
  assert.equal(png, { ...png, type: 'string', contentMediaType: 'image/png' });

  // What the server sends is one of the declared types.
  const srv = await newServer(ns, 'openapi');
  const headers = { 'x-nonce': newNonce() };
  const answered = async (url: string, operationPath: string, operationId: string, expected: string) => {
    const reply = await ns.api('GET', url, { headers });
    assert.is(reply.status, 200, url);
    const type = (reply.headers.get('content-type') ?? '').split(';')[0]!.trim();
    assert.is(type, expected, url);
    assert.ok(mediaTypes(operationPath, 'get', operationId).includes(type), `${url} answers ${type}, declared`);
  };
  await answered(`/servers/${srv}/sessions/qr/login`, '/servers/{serverid}/sessions/qr/login', 'getQrLogin', 'application/octet-stream');
  await answered(`/servers/${srv}/sessions/qr/login?img=png`, '/servers/{serverid}/sessions/qr/login', 'getQrLogin', 'image/png');
  await answered(`/servers/${srv}/sessions/qr/login?img=svg`, '/servers/{serverid}/sessions/qr/login', 'getQrLogin', 'image/svg+xml');
  await answered(`/servers/${srv}/sessions/qr/enrol?name=x&img=svg`, '/servers/{serverid}/sessions/qr/enrol', 'getQrEnrol', 'image/svg+xml');
  await answered(`/servers/${srv}/vash`, '/servers/{serverid}/vash', 'getServerVash', 'image/png');
  await answered(`/servers/${srv}/sessions/html/login`, '/servers/{serverid}/sessions/html/login', 'getHtmlLogin', 'text/html');
});

test('error answers are the shared Error {code, message}; every operation declares 400, 401, 403, 429 and 503', () => {
  const components = doc.components as { schemas: Record<string, unknown>; responses: Record<string, { content: Record<string, { schema: unknown }> }> };
  assert.equal(components.schemas.Error, {
    type: 'object',
    required: ['code', 'message'],
    properties: { code: { type: 'string' }, message: { type: 'string' } },
  });
  for (const response of Object.values(components.responses)) assert.equal(response.content['application/json']!.schema, { $ref: '#/components/schemas/Error' });
  for (const { method, path: p, op } of operations(doc)) {
    for (const status of ['400', '401', '403', '429', '503']) assert.ok(op.responses[status]?.$ref, `${method} ${p} ${status}`);
    for (const [status, response] of Object.entries(op.responses)) {
      if (Number(status) >= 400) assert.match(response.$ref ?? '', /^#\/components\/responses\//, `${method} ${p} ${status}`);
    }
    if (op.requestBody) assert.ok(op.responses['413']?.$ref, `${method} ${p} 413`);
  }
});

test.run();
