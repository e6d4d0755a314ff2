/** 2.2 tag Users: users, their accounts and their attributes (registerUser and provokeLoginOnUser live with sessions). */
import { Type } from '@sinclair/typebox';
import { checkAttributes } from '../../../core/admin/attributes.ts';
import { authorizeServer, userid, type ApiContext, type App } from '../context.ts';
import { Accounts, AccountListQuery, AttributesBody, ErrorBody, ServerIdParams, UserListQuery, Users, ok } from '../schemas.ts';

const tags = ['Users'];

/**
 * The userid in the path: any characters (URL-encoded), 1 to 256 of them. Its length is checked
 * by `userid()` below with the same rule as every other place a userid is made (UTF-16 units), so
 * a user that can be made can always be named here, and the other way round.
 */
const UserPath = Type.Object({
  serverid: ServerIdParams.properties.serverid,
  userid: Type.String({ minLength: 1, description: 'User name (1 to 256 characters, URL-encoded)' }),
});
const UserAttributePath = Type.Object({
  ...UserPath.properties,
  attributekey: Type.String({ minLength: 1, maxLength: 256, description: 'Key of the attribute' }),
});
const UserAccountsQuery = Type.Object({
  limit: AccountListQuery.properties.limit,
  marker: AccountListQuery.properties.marker,
  sort: AccountListQuery.properties.sort,
});
const notFound = { 404: ErrorBody };

export function userRoutes(app: App, ctx: ApiContext): void {
  const { registry } = ctx;

  app.get(
    '/servers/:serverid/users/',
    {
      schema: { operationId: 'getUsers', summary: 'Get all users', tags, params: ServerIdParams, querystring: UserListQuery, response: { 200: Users, ...notFound } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['users'], req.params.serverid);
      return await registry.users.list(req.params.serverid, req.query);
    },
  );

  app.delete(
    '/servers/:serverid/users/:userid/',
    {
      schema: { operationId: 'deleteUser', summary: 'Delete a specific user', tags, params: UserPath, response: { 200: ok, ...notFound } },
    },
    async (req) => {
      const id = userid(req.params);
      await authorizeServer(ctx, req, ['users'], req.params.serverid);
      await registry.users.delete(req.params.serverid, id, req.ip);
      req.log.info({ serverid: req.params.serverid }, 'user deleted');
      return null;
    },
  );

  app.delete(
    '/servers/:serverid/users/:userid/accounts',
    {
      schema: {
        operationId: 'deleteUserAccounts',
        summary: 'Delete all accounts of a specific user',
        tags: ['Users', 'Accounts'],
        params: UserPath,
        response: { 200: ok, ...notFound },
      },
    },
    async (req) => {
      const id = userid(req.params);
      await authorizeServer(ctx, req, ['accounts', 'users'], req.params.serverid);
      await registry.users.deleteAccounts(req.params.serverid, id, req.ip);
      return null;
    },
  );

  app.get(
    '/servers/:serverid/users/:userid/accounts',
    {
      schema: {
        operationId: 'getUser',
        summary: 'Get all accounts of a specific user',
        tags: ['Users', 'Accounts'],
        params: UserPath,
        querystring: UserAccountsQuery,
        response: { 200: Accounts, ...notFound },
      },
    },
    async (req) => {
      const id = userid(req.params);
      await authorizeServer(ctx, req, ['sessions', 'users'], req.params.serverid);
      return await registry.users.accountsOf(req.params.serverid, id, req.query);
    },
  );

  app.get(
    '/servers/:serverid/users/:userid/attributes/',
    {
      schema: { operationId: 'getUserAttributes', summary: 'Get all attributes of a specific user', tags, params: UserPath, response: { 200: AttributesBody, ...notFound } },
    },
    async (req) => {
      const id = userid(req.params);
      await authorizeServer(ctx, req, ['sessions', 'users'], req.params.serverid);
      return await registry.users.attributes(req.params.serverid, id);
    },
  );

  app.post(
    '/servers/:serverid/users/:userid/attributes/',
    {
      schema: {
        operationId: 'setUserAttributes',
        summary: 'Set all attributes of a specific user',
        description: 'Keys not in the body are deleted. Creates the user if it does not exist.',
        tags,
        params: UserPath,
        body: AttributesBody,
        response: { 200: ok, ...notFound },
      },
    },
    async (req) => {
      const id = userid(req.params);
      await authorizeServer(ctx, req, ['users'], req.params.serverid);
      await registry.users.setAttributes(req.params.serverid, id, checkAttributes(req.body));
      return null;
    },
  );

  app.put(
    '/servers/:serverid/users/:userid/attributes/',
    {
      schema: {
        operationId: 'updateUserAttributes',
        summary: 'Update specified attributes of a specific user',
        tags,
        params: UserPath,
        body: AttributesBody,
        response: { 200: ok, ...notFound },
      },
    },
    async (req) => {
      const id = userid(req.params);
      await authorizeServer(ctx, req, ['users'], req.params.serverid);
      await registry.users.changeAttributes(req.params.serverid, id, 'update', checkAttributes(req.body));
      return null;
    },
  );

  app.delete(
    '/servers/:serverid/users/:userid/attributes/',
    {
      schema: { operationId: 'deleteUserAttributes', summary: 'Delete all attributes of a specific user', tags, params: UserPath, response: { 200: ok, ...notFound } },
    },
    async (req) => {
      const id = userid(req.params);
      await authorizeServer(ctx, req, ['users'], req.params.serverid);
      await registry.users.changeAttributes(req.params.serverid, id, 'clear');
      return null;
    },
  );

  app.delete(
    '/servers/:serverid/users/:userid/attributes/:attributekey',
    {
      schema: { operationId: 'deleteUserAttribute', summary: 'Delete specific attribute of a specific user', tags, params: UserAttributePath, response: { 200: ok, ...notFound } },
    },
    async (req) => {
      const id = userid(req.params);
      await authorizeServer(ctx, req, ['users'], req.params.serverid);
      await registry.users.changeAttributes(req.params.serverid, id, { delete: req.params.attributekey });
      return null;
    },
  );
}
