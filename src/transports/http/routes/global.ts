/** 2.2 tag Global: the global attributes and the servers' privileged attributes (global 'servers'). */
import { checkAttributes } from '../../../core/admin/attributes.ts';
import type { AttributeBag } from '../../../core/admin/registry.ts';
import { authorize, type ApiContext, type App } from '../context.ts';
import { AttributeKeyParams, AttributesBody, GlobalAttributeKeyParams, ServerIdParams, ok } from '../schemas.ts';

const tags = ['Global'];

export function globalRoutes(app: App, ctx: ApiContext): void {
  const { registry } = ctx;
  /** Global 'servers' for all of them; a per-server permission is not enough, even for privileged ones. */
  const allow = (req: Parameters<typeof authorize>[1]) => authorize(ctx, req, ['servers']);

  const global: AttributeBag = { kind: 'global' };
  app.get(
    '/attributes/',
    {
      schema: { operationId: 'getGlobalAttributes', summary: 'Get all global attributes', tags, response: { 200: AttributesBody } },
    },
    async (req) => {
      await allow(req);
      return await registry.attributes(global);
    },
  );

  app.post(
    '/attributes/',
    {
      schema: { operationId: 'setGlobalAttributes', summary: 'Set all global attributes', tags, body: AttributesBody, response: { 200: ok } },
    },
    async (req) => {
      await allow(req);
      await registry.changeAttributes(global, 'set', checkAttributes(req.body));
      return null;
    },
  );

  app.put(
    '/attributes/',
    {
      schema: { operationId: 'updateGlobalAttributes', summary: 'Update specified global attributes', tags, body: AttributesBody, response: { 200: ok } },
    },
    async (req) => {
      await allow(req);
      await registry.changeAttributes(global, 'update', checkAttributes(req.body));
      return null;
    },
  );

  app.delete(
    '/attributes/',
    {
      schema: { operationId: 'deleteGlobalAttributes', summary: 'Delete all global attributes', tags, response: { 200: ok } },
    },
    async (req) => {
      await allow(req);
      await registry.changeAttributes(global, 'clear');
      return null;
    },
  );

  app.delete(
    '/attributes/:attributekey',
    {
      schema: { operationId: 'deleteGlobalAttribute', summary: 'Delete specific global attribute', tags, params: GlobalAttributeKeyParams, response: { 200: ok } },
    },
    async (req) => {
      await allow(req);
      await registry.changeAttributes(global, { delete: req.params.attributekey });
      return null;
    },
  );

  const privileged = (serverid: string): AttributeBag => ({ kind: 'privileged', serverid });
  app.get(
    '/servers/:serverid/privilegedattributes/',
    {
      schema: {
        operationId: 'getServerPrivilegedAttributes',
        summary: 'Get all privileged attributes of a specific server',
        tags,
        params: ServerIdParams,
        response: { 200: AttributesBody },
      },
    },
    async (req) => {
      await allow(req);
      return await registry.attributes(privileged(req.params.serverid));
    },
  );

  app.post(
    '/servers/:serverid/privilegedattributes/',
    {
      schema: {
        operationId: 'setServerPrivilegedAttributes',
        summary: 'Set all privileged attributes of a specific server',
        tags,
        params: ServerIdParams,
        body: AttributesBody,
        response: { 200: ok },
      },
    },
    async (req) => {
      await allow(req);
      await registry.changeAttributes(privileged(req.params.serverid), 'set', checkAttributes(req.body));
      return null;
    },
  );

  app.put(
    '/servers/:serverid/privilegedattributes/',
    {
      schema: {
        operationId: 'updateServerPrivilegedAttributes',
        summary: 'Update privileged specified attributes of a specific server',
        tags,
        params: ServerIdParams,
        body: AttributesBody,
        response: { 200: ok },
      },
    },
    async (req) => {
      await allow(req);
      await registry.changeAttributes(privileged(req.params.serverid), 'update', checkAttributes(req.body));
      return null;
    },
  );

  app.delete(
    '/servers/:serverid/privilegedattributes/',
    {
      schema: {
        operationId: 'deleteServerPrivilegedAttributes',
        summary: 'Delete all privileged attributes of a specific server',
        tags,
        params: ServerIdParams,
        response: { 200: ok },
      },
    },
    async (req) => {
      await allow(req);
      await registry.changeAttributes(privileged(req.params.serverid), 'clear');
      return null;
    },
  );

  app.delete(
    '/servers/:serverid/privilegedattributes/:attributekey',
    {
      schema: {
        operationId: 'deleteServerPrivilegedAttribute',
        summary: 'Delete specific privileged attribute of a specific server',
        tags,
        params: AttributeKeyParams,
        response: { 200: ok },
      },
    },
    async (req) => {
      await allow(req);
      await registry.changeAttributes(privileged(req.params.serverid), { delete: req.params.attributekey });
      return null;
    },
  );
}
