/** 2.2 tag Servers: the servers and their attributes. */
import { checkAttributes } from '../../../core/admin/attributes.ts';
import { authorize, authorizeServer, principalOf, type ApiContext, type App } from '../context.ts';
import { AttributeKeyParams, AttributesBody, PageQuery, Server, ServerIdParams, ServerInput, Servers, ok } from '../schemas.ts';

const tags = ['Servers'];

export function serverRoutes(app: App, ctx: ApiContext): void {
  const { registry } = ctx;

  app.get(
    '/servers/',
    {
      schema: { operationId: 'getServers', summary: 'List all your servers', tags, querystring: PageQuery, response: { 200: Servers } },
    },
    async (req) => {
      const principal = principalOf(req); // each key sees the servers it has 'servers' on
      const visible = await registry.servers.visibleTo(principal);
      const start = req.query.marker ?? 0;
      const end = req.query.limit === undefined ? undefined : start + req.query.limit;
      return { servers: await Promise.all(visible.slice(start, end).map((s) => registry.servers.view(s))), totalnumber: visible.length };
    },
  );

  app.post(
    '/servers/',
    {
      schema: { operationId: 'createServer', summary: 'Create a new server', tags, body: ServerInput, response: { 200: Server } },
    },
    async (req) => {
      const principal = await authorize(ctx, req, ['createserver']);
      const server = await registry.servers.create(req.body, principal, req.ip);
      req.log.info({ serverid: server.serverid }, 'server created');
      return registry.servers.view(server);
    },
  );

  app.get(
    '/servers/:serverid/',
    {
      schema: { operationId: 'getServer', summary: 'Configuration of a specific server', tags, params: ServerIdParams, response: { 200: Server } },
    },
    async (req) => registry.servers.view(await authorizeServer(ctx, req, ['servers', 'createserver'], req.params.serverid)),
  );

  app.put(
    '/servers/:serverid/',
    {
      schema: { operationId: 'updateServer', summary: 'Update configuration of a specific server', tags, params: ServerIdParams, body: ServerInput, response: { 200: Server } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['createserver'], req.params.serverid);
      return registry.servers.view(await registry.servers.update(req.params.serverid, req.body, req.ip));
    },
  );

  const attributes = { kind: 'server' as const };
  app.get(
    '/servers/:serverid/attributes/',
    {
      schema: { operationId: 'getServerAttributes', summary: 'Get all attributes of a specific server', tags, params: ServerIdParams, response: { 200: AttributesBody } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['servers'], req.params.serverid);
      return await registry.attributes({ ...attributes, serverid: req.params.serverid });
    },
  );

  app.post(
    '/servers/:serverid/attributes/',
    {
      schema: { operationId: 'setServerAttributes', summary: 'Set all attributes of a specific server', tags, params: ServerIdParams, body: AttributesBody, response: { 200: ok } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['servers'], req.params.serverid);
      await registry.changeAttributes({ ...attributes, serverid: req.params.serverid }, 'set', checkAttributes(req.body));
      return null;
    },
  );

  app.put(
    '/servers/:serverid/attributes/',
    {
      schema: {
        operationId: 'updateServerAttributes',
        summary: 'Update specified attributes of a specific server',
        tags,
        params: ServerIdParams,
        body: AttributesBody,
        response: { 200: ok },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['servers'], req.params.serverid);
      await registry.changeAttributes({ ...attributes, serverid: req.params.serverid }, 'update', checkAttributes(req.body));
      return null;
    },
  );

  app.delete(
    '/servers/:serverid/attributes/',
    {
      schema: { operationId: 'deleteServerAttributes', summary: 'Delete all attributes of a specific server', tags, params: ServerIdParams, response: { 200: ok } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['servers'], req.params.serverid);
      await registry.changeAttributes({ ...attributes, serverid: req.params.serverid }, 'clear');
      return null;
    },
  );

  app.delete(
    '/servers/:serverid/attributes/:attributekey',
    {
      schema: { operationId: 'deleteServerAttribute', summary: 'Delete specific attribute of a specific server', tags, params: AttributeKeyParams, response: { 200: ok } },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['servers'], req.params.serverid);
      await registry.changeAttributes({ ...attributes, serverid: req.params.serverid }, { delete: req.params.attributekey });
      return null;
    },
  );
}
