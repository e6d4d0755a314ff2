/**
 * Helpers the REST API tests share, over a server of `startTestServer()`: make servers and keys,
 * take a snapshot of the store, check error answers.
 */
import * as assert from 'uvu/assert';
import { GLOBAL, grantInChange, type Permission } from '../../src/core/admin/access.ts';
import type { TestServer } from './ns.ts';

/**
 * Everything the store holds, as a string: equal before and after a request that wrote nothing.
 * Without the webhook deliveries' bookkeeping: the deliverer writes it in the background (a try,
 * its retry time) whatever the request did.
 */
export const snapshot = (ns: TestServer): string => {
  const { deliveries: _, ...records } = JSON.parse(ns.store.dump()) as Record<string, unknown>;
  return JSON.stringify(records);
};

/** createServer with `{ serverName: 'srv', ...body }`; asserts 200 and gives the Server answered. */
export async function createServer(ns: TestServer, body: Record<string, unknown> = {}): Promise<any> {
  const r = await ns.api('POST', '/servers/', { body: { serverName: 'srv', ...body } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** createServer named `name`; gives its serverid. */
export async function newServer(ns: TestServer, name = 'srv'): Promise<string> {
  return (await createServer(ns, { serverName: name })).serverid;
}

/** A new key (createApiKey) granted `perms` on `serverid` (grantPermissions), or globally. */
export async function keyWith(ns: TestServer, perms: Permission[], serverid?: string): Promise<{ apikey: string; role: string }> {
  const made = await ns.api('POST', '/apikeys/?description=test');
  assert.is(made.status, 200, JSON.stringify(made.body));
  if (serverid) {
    const g = await ns.api('POST', `/servers/${serverid}/permissions/${made.body.role}`, { body: perms });
    assert.is(g.status, 200, JSON.stringify(g.body));
  } else {
    await ns.registry.store.transact((tx) => grantInChange(tx, made.body.role, GLOBAL, perms));
  }
  return made.body;
}

/** A new key made in the registry, granted `acl` in `scope` (a serverid, or '*'); gives the key. */
export async function makeKey(ns: TestServer, scope: string, acl: Permission[], description: string): Promise<string> {
  const made = await ns.registry.access.createApiKey({ role: 'test', keyRole: 'test' }, description);
  if (acl.length) await ns.registry.access.grant(scope, made.role, acl);
  return made.apikey;
}

interface Answer {
  status: number;
  body: any;
}

/** An error answer: `status`, `{ code, message }`, and a message that names `mentions`. */
export function expectError(r: Answer, status: number, code: string, mentions?: string): void {
  assert.is(r.status, status, JSON.stringify(r.body));
  assert.is(r.body.code, code);
  assert.type(r.body.message, 'string');
  if (mentions) assert.ok(r.body.message.includes(mentions), `"${r.body.message}" should name ${mentions}`);
}

/** expectError, whose failures say what was expected and what came. */
export function expectErrorExplained(r: Answer, status: number, code: string, mentions?: string): void {
  assert.is(r.status, status, `expected ${status} ${code}, got ${r.status} ${JSON.stringify(r.body)}`);
  assert.is(r.body.code, code);
  assert.type(r.body.message, 'string');
  if (mentions) assert.ok(r.body.message.includes(mentions), `message "${r.body.message}" should name ${mentions}`);
}

/** A 200 answer. */
export function expectOk(r: Answer): void {
  assert.is(r.status, 200, `expected 200, got ${r.status} ${JSON.stringify(r.body)}`);
}

/** A request: method, path, body. */
export type Call = [method: string, url: string, body?: unknown];

/**
 * The refusals of operations that need `root` on their server (webhooks, OIDC clients), in
 * order: 403 FORBIDDEN naming 'root' for a key of server `a` with every other permission, and
 * for a key with `root` on server `b`; 401 without a key; 403 for `b`'s root on an unknown
 * server, 404 UNKNOWN_SERVER for global root there. `calls(serverid)` gives every operation on
 * a server; none of them may change anything.
 */
export async function expectRootOnServer(ns: TestServer, a: string, b: string, calls: (serverid: string) => Call[]): Promise<void> {
  const unknown = 'AAAAAAAAAAAAAAAAAAAAAA';
  const narrow = await keyWith(ns, ['sessions', 'users', 'accounts', 'servers', 'createserver'], a);
  const rootOfB = await keyWith(ns, ['root'], b);
  const before = snapshot(ns);
  for (const key of [narrow.apikey, rootOfB.apikey]) {
    for (const [method, url, body] of calls(a)) expectError(await ns.api(method, url, { key, body }), 403, 'FORBIDDEN', "'root'");
  }
  for (const [method, url, body] of calls(a)) expectError(await ns.api(method, url, { key: null, body }), 401, 'MISSING_API_KEY');
  // Another server's key learns nothing of an unknown server either; global root learns it is unknown.
  const [first] = calls(unknown);
  expectError(await ns.api(first![0], first![1], { key: rootOfB.apikey, body: first![2] }), 403, 'FORBIDDEN');
  for (const [method, url, body] of calls(unknown)) expectError(await ns.api(method, url, { body }), 404, 'UNKNOWN_SERVER');
  assert.is(snapshot(ns), before, 'nothing changed');
}

/**
 * A server's log (what its `logTo` stream wrote, read by `text()` once the onResponse lines are
 * out): every line parsed, and the admin write lines on `serverid` as [operationId, status].
 */
export async function logOf(text: () => string, serverid: string): Promise<{ lines: Array<Record<string, unknown>>; writes: unknown[][] }> {
  await new Promise((resolve) => setTimeout(resolve, 50)); // the onResponse lines
  const lines = text()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const writes = lines.filter((l) => l.msg === `admin write: ${l.op}` && l.serverid === serverid).map((l) => [l.op, l.status]);
  return { lines, writes };
}
