/**
 * provokeLogin (REST, text socket PROVOKE, socket.io provoke): a push to the account of the
 * session's last successful login; 403 CANNOT_PROVOKE when canprovoke is false. `source`: the
 * asking client's address, for the push's events.
 */
import { NsError } from '../../wire/errors.ts';
import type { Registry } from '../admin/registry.ts';
import type { SessionHub } from '../hub.ts';
import type { PushService } from './push.ts';

export async function provokeSession(registry: Registry, hub: SessionHub, push: PushService, serverid: string, hsid: string, source?: string): Promise<void> {
  const { lastAccount } = await hub.status(serverid, hsid);
  if (lastAccount === null || !(await registry.accounts.get(serverid, lastAccount))) throw new NsError('CANNOT_PROVOKE');
  await push.provoke(serverid, hsid, [lastAccount], source);
}
