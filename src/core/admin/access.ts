/**
 * Who may do what: roles, api keys and permissions (2.2 tag Management), and `X-su`.
 *
 * An api key belongs to a role; a role has, per scope (global "*" or one serverid), a set of
 * permissions. `root` in a scope implies every permission in that scope. Api keys are kept as
 * SHA-256 hashes: a key is shown once, when it is made.
 */
import { NsError } from '../../wire/errors.ts';
import { newApiKey, newRoleId } from '../crypto/ids.ts';
import { sha256hex } from '../crypto/keys.ts';
import type { Data } from '../../adapters/lowdb/data.ts';
import type { Store } from '../../ports.ts';

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

export class Access {
  constructor(private readonly store: Store) {}

  private get data(): Readonly<Data> {
    return this.store.data;
  }

  /** Resolves X-apikey (and X-su) to a principal; 401 / 403 otherwise. */
  authenticate(apikey: string | undefined, su: string | undefined): Principal {
    if (!apikey) throw new NsError('MISSING_API_KEY');
    const hash = sha256hex(apikey);
    const record = Object.hasOwn(this.data.apiKeys, hash) ? this.data.apiKeys[hash] : undefined;
    if (!record) throw new NsError('UNKNOWN_API_KEY');
    const principal = { role: record.role, keyRole: record.role };
    if (su === undefined || su === '') return principal;
    if (!this.has(principal, 'root') && !this.has(principal, 'setrid')) {
      throw new NsError('BAD_SU', 'X-su needs an api key with global root or setrid');
    }
    // hasOwn: "constructor" or "__proto__" must not pass for a role.
    if (!this.roleExists(su)) throw new NsError('BAD_SU', 'X-su names no known role');
    return { role: su, keyRole: record.role };
  }

  /** True when the role has `perm` (or root) globally, or on `serverid`. */
  has(principal: Principal, perm: Permission, serverid?: string): boolean {
    if (!Object.hasOwn(this.data.permissions, principal.role)) return false;
    const scopes = this.data.permissions[principal.role]!;
    const holds = (scope: string) => {
      const acl = Object.hasOwn(scopes, scope) ? scopes[scope] : undefined;
      return acl !== undefined && (acl.includes(perm) || acl.includes('root'));
    };
    return holds(GLOBAL) || (serverid !== undefined && holds(serverid));
  }

  /** 403 unless the principal has one of `perms` on the server (or globally, for `undefined`). */
  require(principal: Principal, perms: readonly Permission[], serverid?: string): void {
    if (!perms.some((p) => this.has(principal, p, serverid))) {
      throw new NsError('FORBIDDEN', `This operation needs the permission ${perms.map((p) => `'${p}'`).join(' or ')}${serverid ? '' : ' (global)'}`);
    }
  }

  roleExists(role: string): boolean {
    return Object.hasOwn(this.data.roles, role);
  }

  /** 404 UNKNOWN_ROLE unless the role exists. */
  requireRole(role: string): void {
    if (!this.roleExists(role)) throw new NsError('UNKNOWN_ROLE', `No role ${role}`);
  }

  /** Makes the global root key from NEXTAUTH_ROOT_API_KEY, or a new one when no root key exists. */
  async ensureRootKey(given: string | undefined): Promise<{ apikey?: string; created: boolean }> {
    const isRoot = (role: string) => this.data.permissions[role]?.[GLOBAL]?.includes('root') ?? false;
    if (given !== undefined) {
      const existing = this.data.apiKeys[sha256hex(given)];
      if (existing && isRoot(existing.role)) return { created: false };
      if (existing) throw new Error('NEXTAUTH_ROOT_API_KEY is already the key of a role without global root');
      await this.store.update((data) => this.addRootKey(data, given));
      return { created: true };
    }
    if (Object.values(this.data.apiKeys).some((k) => isRoot(k.role))) return { created: false };
    const apikey = newApiKey();
    await this.store.update((data) => this.addRootKey(data, apikey));
    return { apikey, created: true };
  }

  private addRootKey(data: Data, apikey: string): void {
    const role = newRoleId();
    const now = Date.now();
    data.roles[role] = { description: 'root', created: now };
    data.permissions[role] = { [GLOBAL]: ['root'] };
    data.apiKeys[sha256hex(apikey)] = { role, description: 'root', created: now, hint: keyHint(apikey) };
  }

  /** createApiKey: a new role with a new key; it has no permissions until granted. */
  async createApiKey(principal: Principal, description: string): Promise<ApiKeyView> {
    const apikey = newApiKey();
    const role = newRoleId();
    await this.store.update((data) => {
      const now = Date.now();
      data.roles[role] = { description, created: now, createdBy: principal.role };
      data.apiKeys[sha256hex(apikey)] = { role, description, created: now, createdBy: principal.role, hint: keyHint(apikey) };
    });
    return { apikey, role, description };
  }

  /** getApiKeys: the keys made by the acting role (their hint only: keys are not kept). */
  listApiKeys(principal: Principal): ApiKeyView[] {
    return Object.values(this.data.apiKeys)
      .filter((k) => k.createdBy === principal.role || (k.role === principal.role && k.createdBy === undefined))
      .map((k) => ({ apikey: k.hint, role: k.role, description: k.description }));
  }

  /**
   * Permissions on one server (that scope only: global ones are not shown), for every role or
   * for one (404 UNKNOWN_ROLE for an unknown one).
   */
  listPermissions(serverid: string, role?: string): Array<{ role: string; server: string; acl: string }> {
    if (role !== undefined) this.requireRole(role);
    const out: Array<{ role: string; server: string; acl: string }> = [];
    for (const [r, scopes] of Object.entries(this.data.permissions)) {
      if (role !== undefined && r !== role) continue;
      const acl = Object.hasOwn(scopes, serverid) ? scopes[serverid] : undefined;
      if (acl?.length) out.push({ role: r, server: serverid, acl: acl.join(',') });
    }
    return out;
  }

  /** grantPermissions: replaces the role's permissions on the server (an empty list revokes them). */
  async grant(serverid: string, role: string, acl: readonly string[]): Promise<void> {
    acl.forEach((p, i) => {
      if (!(PERMISSIONS as readonly string[]).includes(p)) {
        throw new NsError('BAD_REQUEST', `body/${i}: "${p}" is not a permission (${PERMISSIONS.join(', ')})`);
      }
    });
    this.requireRole(role);
    await this.store.update((data) => {
      if (acl.length === 0) {
        if (Object.hasOwn(data.permissions, role)) delete data.permissions[role]![serverid];
        return;
      }
      (data.permissions[role] ??= {})[serverid] = [...new Set(acl)];
    });
  }

  /** revokePermissions: removes the role's permissions on the server. */
  async revoke(serverid: string, role: string): Promise<void> {
    this.requireRole(role);
    await this.store.update((data) => {
      if (Object.hasOwn(data.permissions, role)) delete data.permissions[role]![serverid];
    });
  }

  /** Grants in the same change as another one (used when a server is made). */
  grantInChange(data: Data, role: string, scope: string, acl: readonly Permission[]): void {
    (data.permissions[role] ??= {})[scope] = [...acl];
  }

  /** Drops every permission on a server (inside the change that deletes it). */
  forgetServerInChange(data: Data, serverid: string): void {
    for (const scopes of Object.values(data.permissions)) delete scopes[serverid];
  }
}
