/**
 * A (serverid, hsid) pair named by a browser: both well-formed, and the server known. Watching a
 * session needs nothing more; acting on it (PROVOKE, LOGOUT) needs its browser token too.
 */
import { NsError } from '../wire/errors.ts';
import { isBrowserToken } from './crypto/browser-token.ts';
import { isHsid, isServerId } from './crypto/ids.ts';
import type { Registry } from './admin/registry.ts';
import type { SessionKey } from './hub.ts';

export async function checkSessionRef(registry: Registry, serverid: unknown, hsid: unknown, token?: { browserToken: unknown }): Promise<SessionKey> {
  if (typeof serverid !== 'string' || !isServerId(serverid)) throw new NsError('BAD_SERVERID');
  if (typeof hsid !== 'string' || !isHsid(hsid)) throw new NsError('BAD_REQUEST', 'hsid must be 43 base64url characters');
  const server = await registry.servers.get(serverid);
  if (!server) throw new NsError('UNKNOWN_SERVER');
  if (token && !isBrowserToken(server.sessionSecret, hsid, token.browserToken)) throw new NsError('FORBIDDEN', 'Acting on a session needs its browser token');
  return { serverid, hsid };
}
