/** 2.2 tag Management: api keys, permissions of roles on servers, and users' roles. */
import { Type } from '@sinclair/typebox';
import { authorize, authorizeServer, userid, type ApiContext, type App } from '../context.ts';
import { ApiKey, ApiKeys, Permissions, Role, RoleParams, ServerIdParams, UserIdParams, ok } from '../schemas.ts';

const tags = ['Management'];

const CreateApiKeyQuery = Type.Object({
  description: Type.String({ minLength: 1, maxLength: 256, description: 'Description for the new role' }),
});
const PermissionList = Type.Array(Type.String({ maxLength: 64 }), {
  maxItems: 32,
  description: 'The new permissions (sessions, users, accounts, servers, createserver, root, setrid)',
});

export function managementRoutes(app: App, ctx: ApiContext): void {
  const { registry } = ctx;

  app.get(
    '/apikeys/',
    {
      schema: { operationId: 'getApiKeys', summary: 'Get all API keys.', tags, response: { 200: ApiKeys } },
    },
    async (req) => {
      const principal = await authorize(ctx, req, ['servers']);
      return { apikeys: await registry.access.listApiKeys(principal) };
    },
  );

  app.post(
    '/apikeys/',
    {
      schema: { operationId: 'createApiKey', summary: 'Create a new API key.', tags, querystring: CreateApiKeyQuery, response: { 200: ApiKey } },
    },
    async (req) => {
      const principal = await authorize(ctx, req, ['servers']);
      const created = await registry.access.createApiKey(principal, req.query.description);
      req.log.info({ role: created.role }, 'api key created');
      return created;
    },
  );

  app.get(
    '/servers/:serverid/permissions/',
    {
      schema: { operationId: 'getAllPermissions', summary: 'Get all permissions for the specified server.', tags, params: ServerIdParams, response: { 200: Permissions } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['servers'], req.params.serverid);
      return { permissions: await registry.access.listPermissions(req.params.serverid) };
    },
  );

  app.get(
    '/servers/:serverid/permissions/:roleid',
    {
      schema: { operationId: 'getPermissions', summary: 'Get all permissions for the specified server and role.', tags, params: RoleParams, response: { 200: Permissions } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['servers'], req.params.serverid);
      return { permissions: await registry.access.listPermissions(req.params.serverid, req.params.roleid) };
    },
  );

  app.post(
    '/servers/:serverid/permissions/:roleid',
    {
      schema: {
        operationId: 'grantPermissions',
        summary: 'Set new permissions for the specified role on a server',
        tags,
        params: RoleParams,
        body: PermissionList,
        response: { 200: ok },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['root'], req.params.serverid);
      await registry.access.grant(req.params.serverid, req.params.roleid, req.body, req.ip);
      req.log.info({ serverid: req.params.serverid, role: req.params.roleid, acl: req.body }, 'permissions granted');
      return null;
    },
  );

  app.delete(
    '/servers/:serverid/permissions/:roleid',
    {
      schema: { operationId: 'revokePermissions', summary: 'Revoke all permissions for the specified server and role.', tags, params: RoleParams, response: { 200: ok } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['root'], req.params.serverid);
      await registry.access.revoke(req.params.serverid, req.params.roleid, req.ip);
      req.log.info({ serverid: req.params.serverid, role: req.params.roleid }, 'permissions revoked');
      return null;
    },
  );

  app.get(
    '/servers/:serverid/users/:userid/role/',
    {
      schema: { operationId: 'getUserRole', summary: 'Get role for a specific user.', tags, params: UserIdParams, response: { 200: Role } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['users'], req.params.serverid);
      return { role: await registry.users.role(req.params.serverid, userid(req.params)) };
    },
  );

  app.post(
    '/servers/:serverid/users/:userid/role/',
    {
      schema: { operationId: 'getOrCreateUserRole', summary: 'Get or create a role for a specific user.', tags, params: UserIdParams, response: { 200: Role } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['users'], req.params.serverid);
      return { role: await registry.users.getOrCreateRole(req.params.serverid, userid(req.params)) };
    },
  );
}
