/**
 * Who may do what: roles, api keys and permissions (2.2 tag Management), and `X-su`.
 *
 * An api key belongs to a role; a role has, per scope (global "*" or one serverid), a set of
 * permissions. `root` in a scope implies every permission in that scope. Api keys are kept as
 * SHA-256 hashes: a key is shown once, when it is made.
 */
import { newEvent } from '../events/new-event.ts';
import { NsError } from '../../wire/errors.ts';
import { newApiKey, newRoleId } from '../crypto/ids.ts';
import { sha256hex } from '../crypto/keys.ts';
import type { PermissionsRecord, Store, StoreTx } from '../../ports.ts';

export const PERMISSIONS = ['sessions', 'users', 'accounts', 'servers', 'createserver', 'root', 'setrid'] as const;
export type Permission = (typeof PERMISSIONS)[number];
export const GLOBAL = '*';

export interface Principal {
  /** The role acting (after X-su). */
  role: string;
  /** The role of the api key itself. */
  keyRole: string;
}

export interface ApiKeyView {
  apikey: string;
  role: string;
  description: string;
}

const keyHint = (apikey: string) => `${apikey.slice(0, 10)}…`;

const holds = (scopes: PermissionsRecord | undefined, perm: Permission, serverid?: string): boolean => {
  const has = (scope: string) => {
    const acl = scopes && Object.hasOwn(scopes, scope) ? scopes[scope] : undefined;
    return acl !== undefined && (acl.includes(perm) || acl.includes('root'));
  };
  return has(GLOBAL) || (serverid !== undefined && has(serverid));
};

export class Access {
  constructor(private readonly store: Store) {}

  /** Resolves X-apikey (and X-su) to a principal; 401 / 403 otherwise. */
  async authenticate(apikey: string | undefined, su: string | undefined): Promise<Principal> {
    if (!apikey) throw new NsError('MISSING_API_KEY');
    const record = await this.store.get('apiKey', sha256hex(apikey));
    if (!record) throw new NsError('UNKNOWN_API_KEY');
    const principal = { role: record.role, keyRole: record.role };
    if (su === undefined || su === '') return principal;
    if (!(await this.has(principal, 'root')) && !(await this.has(principal, 'setrid'))) {
      throw new NsError('BAD_SU', 'X-su needs an api key with global root or setrid');
    }
    if (!(await this.roleExists(su))) throw new NsError('BAD_SU', 'X-su names no known role');
    return { role: su, keyRole: record.role };
  }

  /** True when the role has `perm` (or root) globally, or on `serverid`. */
  async has(principal: Principal, perm: Permission, serverid?: string): Promise<boolean> {
    return holds(await this.store.get('permissions', principal.role), perm, serverid);
  }

  /** 403 unless the principal has one of `perms` on the server (or globally, for `undefined`). */
  async require(principal: Principal, perms: readonly Permission[], serverid?: string): Promise<void> {
    const scopes = await this.store.get('permissions', principal.role);
    if (!perms.some((p) => holds(scopes, p, serverid))) {
      throw new NsError('FORBIDDEN', `This operation needs the permission ${perms.map((p) => `'${p}'`).join(' or ')}${serverid ? '' : ' (global)'}`);
    }
  }

  async roleExists(role: string): Promise<boolean> {
    return (await this.store.get('role', role)) !== undefined;
  }

  /** 404 UNKNOWN_ROLE unless the role exists. */
  async requireRole(role: string): Promise<void> {
    if (!(await this.roleExists(role))) throw new NsError('UNKNOWN_ROLE', `No role ${role}`);
  }

  /** Makes the global root key from NEXTAUTH_ROOT_API_KEY, or a new one when no root key exists. */
  async ensureRootKey(given: string | undefined): Promise<{ apikey?: string; created: boolean }> {
    if (given !== undefined) {
      const existing = await this.store.get('apiKey', sha256hex(given));
      if (existing && (await this.store.get('permissions', existing.role))?.[GLOBAL]?.includes('root')) return { created: false };
      if (existing) throw new Error('NEXTAUTH_ROOT_API_KEY is already the key of a role without global root');
      await this.store.transact((tx) => addRootKey(tx, given));
      return { created: true };
    }
    if (await this.store.hasRootKey()) return { created: false };
    const apikey = newApiKey();
    await this.store.transact((tx) => addRootKey(tx, apikey));
    return { apikey, created: true };
  }

  /**
   * `nextauth key reset-root` (on a stopped data folder): a new global root key, and the root
   * keys the server made itself (on its first start, or from NEXTAUTH_ROOT_API_KEY: no
   * `createdBy`) revoked with their roles, in one change. Keys an operator made and granted root
   * stay: they are revoked with deleteApiKey, by whoever holds the new key.
   */
  async resetRootKey(): Promise<{ apikey: string; revoked: number }> {
    const apikey = newApiKey();
    const revoked = await this.store.transact(async (tx) => {
      let n = 0;
      for (const { role, acl } of await this.store.permissionsOn(GLOBAL)) {
        if (!acl.includes('root')) continue;
        const keys = await this.store.apiKeysOf(role);
        const own = keys.filter(({ key }) => key.role === role && key.createdBy === undefined);
        for (const { hash } of own) tx.delete('apiKey', [hash]);
        n += own.length;
        if (own.length === keys.length) {
          tx.delete('role', [role]);
          tx.delete('permissions', [role]);
        }
      }
      addRootKey(tx, apikey);
      return n;
    });
    return { apikey, revoked };
  }

  /** createApiKey: a new role with a new key; it has no permissions until granted. */
  async createApiKey(principal: Principal, description: string): Promise<ApiKeyView> {
    const apikey = newApiKey();
    const role = newRoleId();
    await this.store.transact((tx) => {
      const now = Date.now();
      tx.put('role', [role], { description, created: now, createdBy: principal.role });
      tx.put('apiKey', [sha256hex(apikey)], { role, description, created: now, createdBy: principal.role, hint: keyHint(apikey) });
    });
    return { apikey, role, description };
  }

  /** getApiKeys: the keys made by the acting role (their hint only: keys are not kept). */
  async listApiKeys(principal: Principal): Promise<ApiKeyView[]> {
    return (await this.store.apiKeysOf(principal.role))
      .filter(({ key }) => key.createdBy === principal.role || (key.role === principal.role && key.createdBy === undefined))
      .map(({ key }) => ({ apikey: key.hint, role: key.role, description: key.description }));
  }

  /**
   * Permissions on one server (that scope only: global ones are not shown), for every role or
   * for one (404 UNKNOWN_ROLE for an unknown one).
   */
  async listPermissions(serverid: string, role?: string): Promise<Array<{ role: string; server: string; acl: string }>> {
    if (role !== undefined) {
      await this.requireRole(role);
      const scopes = await this.store.get('permissions', role);
      const acl = scopes && Object.hasOwn(scopes, serverid) ? scopes[serverid] : undefined;
      return acl?.length ? [{ role, server: serverid, acl: acl.join(',') }] : [];
    }
    return (await this.store.permissionsOn(serverid)).map((p) => ({ role: p.role, server: serverid, acl: p.acl.join(',') }));
  }

  /** grantPermissions: replaces the role's permissions on the server (an empty list revokes them). `source`: the asking client's address, for the event. */
  async grant(serverid: string, role: string, acl: readonly string[], source?: string): Promise<void> {
    acl.forEach((p, i) => {
      if (!(PERMISSIONS as readonly string[]).includes(p)) {
        throw new NsError('BAD_REQUEST', `body/${i}: "${p}" is not a permission (${PERMISSIONS.join(', ')})`);
      }
    });
    await this.store.transact(async (tx) => {
      if (!(await tx.get('role', role))) throw new NsError('UNKNOWN_ROLE', `No role ${role}`);
      await grantInChange(tx, role, serverid, acl.length === 0 ? undefined : [...new Set(acl)]);
      if (serverid !== GLOBAL) emitKeyChange(tx, serverid, role, acl.length === 0 ? undefined : [...new Set(acl)], source);
    });
  }

  /** revokePermissions: removes the role's permissions on the server. `source`: as for `grant`. */
  async revoke(serverid: string, role: string, source?: string): Promise<void> {
    await this.store.transact(async (tx) => {
      if (!(await tx.get('role', role))) throw new NsError('UNKNOWN_ROLE', `No role ${role}`);
      await grantInChange(tx, role, serverid, undefined);
      if (serverid !== GLOBAL) emitKeyChange(tx, serverid, role, undefined, source);
    });
  }
}

/**
 * A server's api keys are the roles with permissions on it (2.2 keys are global; they act on a
 * server through their grants): a grant there is `apikey.created` (again, with the new
 * permissions, when they change), a revocation `apikey.deleted`.
 */
function emitKeyChange(tx: StoreTx, serverid: string, role: string, acl: readonly string[] | undefined, source?: string): void {
  const type = acl ? 'com.nextauth.apikey.created' : 'com.nextauth.apikey.deleted';
  tx.emit(newEvent(type, serverid, { source, subject: `role/${role}`, data: { role, ...(acl ? { permissions: [...acl] } : {}) } }, Date.now()));
}

/** Sets (or, with undefined, removes) a role's permissions on one scope, inside a change. */
export async function grantInChange(tx: StoreTx, role: string, scope: string, acl: readonly string[] | undefined): Promise<void> {
  const scopes = await tx.get('permissions', role);
  if (acl === undefined && !scopes?.[scope]) return;
  const next: PermissionsRecord = { ...scopes };
  if (acl === undefined) delete next[scope];
  else Object.defineProperty(next, scope, { value: [...acl], writable: true, enumerable: true, configurable: true });
  tx.put('permissions', [role], next);
}

function addRootKey(tx: StoreTx, apikey: string): void {
  const role = newRoleId();
  const now = Date.now();
  tx.put('role', [role], { description: 'root', created: now });
  tx.put('permissions', [role], { [GLOBAL]: ['root'] });
  tx.put('apiKey', [sha256hex(apikey)], { role, description: 'root', created: now, hint: keyHint(apikey) });
}
