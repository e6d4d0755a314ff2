/** A (serverid, hsid) pair named by a browser: both well-formed, and the server known. */
import { NsError } from '../wire/errors.ts';
import { isHsid, isServerId } from './crypto/ids.ts';
import type { Registry } from './admin/registry.ts';
import type { SessionKey } from './hub.ts';

export async function checkSessionRef(registry: Registry, serverid: unknown, hsid: unknown): Promise<SessionKey> {
  if (typeof serverid !== 'string' || !isServerId(serverid)) throw new NsError('BAD_SERVERID');
  if (typeof hsid !== 'string' || !isHsid(hsid)) throw new NsError('BAD_REQUEST', 'hsid must be 43 base64url characters');
  if (!(await registry.servers.get(serverid))) throw new NsError('UNKNOWN_SERVER');
  return { serverid, hsid };
}
