/**
 * `nextauth oidc-client create|list|delete` and `nextauth oidc-key rotate`: the clients and the signing keys of a server's OpenID Provider
 * (docs/oidc.md), on the same two backends as the other admin commands (admin.ts). A
 * confidential client's secret is printed by `oidc-client create` only (the server keeps a hash).
 */
import type { OidcClientInput, OidcClientView } from '../core/oidc/oidc-clients.ts';
import type { Command } from './admin.ts';
import { UsageError, flagValue, serverIdArg, switchOn } from './args.ts';
import { fields, table, time } from './output.ts';

/** A client id as a command argument (the server says whether it has it). */
function clientIdArg(value: string): string {
  if (value.length < 1 || value.length > 64) throw new UsageError(`<clientid>: "${value.slice(0, 40)}" is not a client id`);
  return value;
}

/** A comma-separated flag as a list (the server checks each item). */
function list(flags: ReadonlyMap<string, string>, name: string): string[] | undefined {
  const v = flagValue(flags, name);
  return v?.split(',').map((item) => item.trim());
}

const clientText = (c: OidcClientView) =>
  fields([
    ['client id', c.clientId],
    ['name', c.name],
    ['type', c.public ? 'public (no secret, PKCE)' : 'confidential (client_secret_basic)'],
    ['redirect URIs', c.redirectUris.join(' ')],
    ['logout URIs', c.postLogoutRedirectUris.join(' ')],
    ['back-channel', c.backchannelLogoutUri],
    ['scopes', c.scopes.join(' ')],
    ['created', time(c.created)],
  ]);

export const OIDC_COMMANDS: Record<string, Command> = {
  'oidc-client create': {
    args: ['<serverid>'],
    flags: ['name', 'redirect-uris', 'public', 'post-logout-uris', 'backchannel-logout-uri', 'scopes'],
    prepare([serverid], flags) {
      const sid = serverIdArg(serverid!);
      const name = flagValue(flags, 'name');
      const redirectUris = list(flags, 'redirect-uris');
      if (name === undefined || redirectUris === undefined) throw new UsageError('oidc-client create: --name and --redirect-uris are required');
      const input: OidcClientInput = { name, redirectUris, public: switchOn(flags, 'public') };
      const logouts = list(flags, 'post-logout-uris');
      const backchannel = flagValue(flags, 'backchannel-logout-uri');
      const scopes = list(flags, 'scopes');
      if (logouts !== undefined) input.postLogoutRedirectUris = logouts;
      if (backchannel !== undefined) input.backchannelLogoutUri = backchannel;
      if (scopes !== undefined) input.scopes = scopes;
      return async (b) => {
        const c = await b.createOidcClient(sid, input);
        const secret = c.secret === undefined ? '' : `Client secret (shown once, keep it safe): ${c.secret}\n`;
        return { data: c, text: `OpenID Connect client created: ${c.clientId}\n${secret}${clientText(c)}` };
      };
    },
  },
  'oidc-client list': {
    args: ['<serverid>'],
    prepare([serverid]) {
      const sid = serverIdArg(serverid!);
      return async (b) => {
        const clients = await b.listOidcClients(sid);
        return {
          data: clients,
          text: table(
            ['CLIENT ID', 'NAME', 'TYPE', 'REDIRECT URIS', 'SCOPES', 'CREATED'],
            clients.map((c) => [c.clientId, c.name, c.public ? 'public' : 'confidential', c.redirectUris.join(' '), c.scopes.join(' '), time(c.created)]),
          ),
        };
      };
    },
  },
  'oidc-client delete': {
    args: ['<serverid>', '<clientid>'],
    prepare([serverid, id]) {
      const sid = serverIdArg(serverid!);
      const cid = clientIdArg(id!);
      return async (b) => {
        await b.deleteOidcClient(sid, cid);
        return { data: { clientId: cid, deleted: true }, text: `OpenID Connect client ${cid} deleted.\n` };
      };
    },
  },
  'oidc-key rotate': {
    args: ['<serverid>'],
    prepare([serverid]) {
      const sid = serverIdArg(serverid!);
      return async (b) => {
        const keys = await b.rotateOidcKeys(sid);
        return {
          data: keys,
          text: `A new signing key: published now, signing in two minutes.\n${table(
            ['KEY ID', 'ALG', 'CREATED', 'SIGNS FROM', 'RETIRED'],
            keys.map((k) => [k.kid, k.alg, time(k.created), k.activates === undefined ? '' : time(k.activates), k.retired === undefined ? '' : time(k.retired)]),
          )}`,
        };
      };
    },
  },
};
