/** 2.2 tag Accounts: the accounts (app instances) of a server (provokeLoginOnAccount lives with sessions). */
import { Type } from '@sinclair/typebox';
import { authorizeServer, type ApiContext, type App } from '../context.ts';
import { Account, AccountIdParams, AccountListQuery, Accounts, ErrorBody, ServerIdParams, ok } from '../schemas.ts';

const tags = ['Accounts'];

const BlockedQuery = Type.Object({ blocked: Type.Boolean({ description: 'True if the account is blocked' }) });
/** No length limit here: 2.2 answers 403 (INVALID_USERID) for a bad userid, the registry says so. */
const AccountUserQuery = Type.Object({ userid: Type.String({ description: 'User name (1 to 256 characters); made if new' }) });

export function accountRoutes(app: App, ctx: ApiContext): void {
  const { registry } = ctx;

  app.get(
    '/servers/:serverid/accounts/',
    {
      schema: {
        operationId: 'getAllAccounts',
        summary: 'Get all accounts',
        description: "filter names an account field (id, description, userid, blocked, clientVersion, created, lastlogin, lastprovoke) or else an attribute of the account's user.",
        tags,
        params: ServerIdParams,
        querystring: AccountListQuery,
        response: { 200: Accounts, 404: ErrorBody },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['accounts'], req.params.serverid);
      return await registry.accounts.list(req.params.serverid, req.query);
    },
  );

  app.get(
    '/servers/:serverid/accounts/:accountid/',
    {
      schema: { operationId: 'getAccount', summary: 'Get specific account', tags, params: AccountIdParams, response: { 200: Account, 404: ErrorBody } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['sessions', 'accounts'], req.params.serverid);
      return registry.accounts.view(await registry.accounts.require(req.params.serverid, req.params.accountid));
    },
  );

  app.put(
    '/servers/:serverid/accounts/:accountid/',
    {
      schema: {
        operationId: 'updateAccount',
        summary: 'Update specific account',
        description: 'The only change is (un)blocking the account. Blocking ends its sessions.',
        tags,
        params: AccountIdParams,
        querystring: BlockedQuery,
        response: { 200: Account, 404: ErrorBody },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['accounts'], req.params.serverid);
      const account = await registry.accounts.setBlocked(req.params.serverid, req.params.accountid, req.query.blocked, req.ip);
      req.log.info({ serverid: req.params.serverid, accountid: account.id, blocked: account.blocked }, 'account updated');
      return registry.accounts.view(account);
    },
  );

  app.delete(
    '/servers/:serverid/accounts/:accountid/',
    {
      schema: { operationId: 'deleteAccount', summary: 'Delete specific account', tags, params: AccountIdParams, response: { 200: ok, 404: ErrorBody } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['accounts'], req.params.serverid);
      await registry.accounts.delete(req.params.serverid, req.params.accountid, req.ip);
      req.log.info({ serverid: req.params.serverid, accountid: req.params.accountid }, 'account deleted');
      return null;
    },
  );

  app.put(
    '/servers/:serverid/accounts/:accountid/user',
    {
      schema: {
        operationId: 'updateAccountUser',
        summary: 'Update user of the given account.',
        description: 'Links the account to the user, which is made if new. 403 INVALID_USERID for a userid of 0 or more than 256 characters.',
        tags: ['Accounts', 'Registration'],
        params: AccountIdParams,
        querystring: AccountUserQuery,
        response: { 200: Account, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['accounts'], req.params.serverid);
      const account = await registry.accounts.setUser(req.params.serverid, req.params.accountid, req.query.userid, req.ip);
      return registry.accounts.view(account);
    },
  );
}
