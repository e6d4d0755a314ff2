/**
 * /openapi.json: an OpenAPI 3.0 document made from the routes' own schemas, so it can never
 * drift from what the server checks. Our additions to nextAuth 2.2 carry `x-addition`.
 */
import type { RouteOptions } from 'fastify';

interface RouteSchema {
  hide?: boolean;
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  params?: { properties?: Record<string, unknown>; required?: string[] };
  querystring?: { properties?: Record<string, unknown>; required?: string[] };
  headers?: { properties?: Record<string, unknown>; required?: string[] };
  body?: unknown;
  response?: Record<string, unknown>;
  'x-addition'?: string;
}

const ADDITIONS = [
  'LoginStatus adds state, userinput and expires',
  'getQrLogin and getQrEnrol take img=svg besides img=png',
  'GET operations that take a body in 2.2 also take it on POST of the same path',
  'GET /healthz, GET /readyz, GET /metrics and GET /openapi.json need no key',
  'Errors are JSON {code, message}',
  'getApiKeys shows a hint of each key: keys are stored hashed and shown in full only when made',
];

export function openApiDocument(routes: readonly RouteOptions[], publicUrl: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const schema = (route.schema ?? {}) as RouteSchema;
    if (schema.hide || (route.config as { public?: boolean } | undefined)?.public) continue;
    const url = route.url.replace(/:(\w+)/g, '{$1}');
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    for (const method of methods) {
      const parameters = [...params(schema.params, 'path'), ...params(schema.querystring, 'query'), ...params(schema.headers, 'header')];
      const responses: Record<string, unknown> = {};
      for (const [status, body] of Object.entries(schema.response ?? { 200: {} })) {
        responses[status] = { description: (body as { description?: string }).description ?? 'OK', content: { 'application/json': { schema: body } } };
      }
      responses['400'] ??= errorResponse('Bad input');
      responses['401'] ??= errorResponse('Missing or unknown api key');
      responses['403'] ??= errorResponse('The key lacks the permission');
      (paths[url] ??= {})[method.toLowerCase()] = {
        operationId: method === 'POST' && schema.operationId && methods.length === 1 && isAlias(routes, route) ? `${schema.operationId}Post` : schema.operationId,
        summary: schema.summary,
        description: schema.description,
        tags: schema.tags,
        parameters,
        ...(schema.body ? { requestBody: { content: { 'application/json': { schema: schema.body } } } } : {}),
        responses,
        ...(schema['x-addition'] ? { 'x-addition': schema['x-addition'] } : {}),
      };
    }
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'nextAuth Server API',
      version: '2.2',
      description: `The nextAuth API 2.2, with these additions:\n${ADDITIONS.map((a) => `- ${a}`).join('\n')}`,
    },
    servers: [{ url: publicUrl }],
    components: {
      securitySchemes: {
        api_key: { type: 'apiKey', in: 'header', name: 'X-apikey' },
        role_id: { type: 'apiKey', in: 'header', name: 'X-su' },
      },
    },
    security: [{ api_key: [] }, { api_key: [], role_id: [] }],
    'x-additions': ADDITIONS,
    paths,
  };
}

function params(schema: RouteSchema['params'], where: 'path' | 'query' | 'header') {
  return Object.entries(schema?.properties ?? {}).map(([name, s]) => ({
    name: where === 'header' ? name.replace(/(^|-)(\w)/g, (_m, d: string, c: string) => d + c.toUpperCase()) : name,
    in: where,
    required: where === 'path' || (schema?.required ?? []).includes(name),
    schema: s,
  }));
}

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
});

/** A POST route whose path also has a GET with the same operationId (our POST alias). */
const isAlias = (routes: readonly RouteOptions[], route: RouteOptions) =>
  routes.some(
    (r) =>
      r !== route && r.url === route.url && r.method === 'GET' && (r.schema as RouteSchema | undefined)?.operationId === (route.schema as RouteSchema | undefined)?.operationId,
  );
