/**
 * /openapi.json: an OpenAPI 3.1 document made from the routes' own schemas, so it can never
 * drift from what the server checks. 3.1 because its Schema Objects are JSON Schema 2020-12, as
 * TypeBox's are (`type: 'null'`, `const`, `patternProperties`): the route schemas go in as they
 * are. Answers that are not JSON (QR codes, the visual hash, the HTML blocks) are declared by their
 * routes with their media types (schemas.ts QrReply, VashReply, HtmlReply); error answers name
 * the shared `Error` schema. Our additions to nextAuth 2.2 carry `x-addition`.
 * test/transports/http/openapi.test.ts checks the document with swagger-parser and redocly.
 */
import type { RouteOptions } from 'fastify';
import { ErrorBody } from './schemas.ts';

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

/** A response in fastify's per-media-type form (schemas.ts QrReply…). */
interface ContentReply {
  description?: string;
  content: Record<string, { schema: unknown }>;
}

const ADDITIONS = [
  'LoginStatus adds state, userinput and expires',
  'getQrLogin and getQrEnrol take img=svg besides img=png',
  'GET operations that take a body in 2.2 also take it on POST of the same path',
  'GET /healthz, GET /readyz, GET /metrics and GET /openapi.json need no key',
  'Errors are JSON {code, message}',
  'getApiKeys shows a hint of each key: keys are stored hashed and shown in full only when made',
  "The tags Webhooks and Events: a server's events (docs/events.md) sent to its webhooks, signed, and its audit trail",
];

/** The tags of 2.2, with its descriptions. */
const TAGS = [
  {
    name: 'HTML',
    description:
      'Basic calls that provide you with all the necessary HTML to include into your webpage for logging in (sessions), enrolling new users (registration) and logging out (sessions).',
  },
  { name: 'Sessions', description: 'Everything about session management and login.' },
  { name: 'Registration', description: 'Enrolling new users or coupling an existing account to a user.' },
  { name: 'Users', description: 'Everything about users.' },
  { name: 'Accounts', description: 'Everything about accounts (app instances).' },
  { name: 'Transactions', description: 'Everything about transactions.' },
  { name: 'Servers', description: 'Everything about your servers.' },
  { name: 'Management', description: 'Everything for managing the access and authorisations to the servers themselves: permissions, roles and apikeys.' },
  { name: 'Global', description: "Everything about global and privileged server attributes. Required permission: global 'servers'." },
  {
    name: 'Webhooks',
    description:
      "Addition: a server's webhooks, which receive its events as CloudEvents signed as Standard Webhooks (docs/events.md): made, listed, changed, their secret rotated, their delivery attempts. Required permission: 'root' on the server.",
  },
  { name: 'Events', description: "Addition: a server's audit trail, its events as CloudEvents, newest first (docs/events.md). Required permission: 'root' on the server." },
  {
    name: 'OpenID Connect',
    description:
      "Addition: the clients of a server's OpenID Provider (docs/oidc.md), the applications that log their users in with it: registered (a confidential client's secret shown once), listed, deleted. Required permission: 'root' on the server.",
  },
];

/**
 * Error answers, by status: the name of the shared response in `components.responses` and its
 * description. The body is always `Error` (docs/errors.md lists the codes).
 */
const ERRORS: Record<string, { name: string; description: string; retryAfter?: true }> = {
  400: { name: 'BadRequest', description: 'Bad input' },
  401: { name: 'Unauthorized', description: 'Missing or unknown api key' },
  403: { name: 'Forbidden', description: 'The key lacks the permission, or the request is refused' },
  404: { name: 'NotFound', description: 'No such server, user, account, attribute, role, transaction, webhook or OpenID Connect client' },
  409: { name: 'Conflict', description: 'The state does not allow it' },
  410: { name: 'Gone', description: 'Expired or used' },
  413: { name: 'PayloadTooLarge', description: 'The request body is too large' },
  429: { name: 'TooManyRequests', description: 'Past a limit (PROTOCOL.md §7); Retry-After says when to try again', retryAfter: true },
  503: { name: 'Unavailable', description: 'The store cannot write now (STORAGE_UNAVAILABLE); Retry-After says when to try again', retryAfter: true },
};
/** The errors any operation may answer (PROTOCOL.md §6); 413 too for one with a body. */
const EVERY_OPERATION = ['400', '401', '403', '429', '503'];

export function openApiDocument(routes: readonly RouteOptions[], publicUrl: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorsUsed = new Set<string>();
  const errorRef = (status: string) => {
    errorsUsed.add(status);
    return { $ref: `#/components/responses/${ERRORS[status]!.name}` };
  };
  for (const route of routes) {
    const schema = (route.schema ?? {}) as RouteSchema;
    if (schema.hide || (route.config as { public?: boolean } | undefined)?.public) continue;
    const url = route.url.replace(/:(\w+)/g, '{$1}');
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    for (const method of methods) {
      const parameters = [...params(schema.params, 'path'), ...params(schema.querystring, 'query'), ...params(schema.headers, 'header')];
      const responses: Record<string, unknown> = {};
      for (const [status, body] of Object.entries(schema.response ?? {})) {
        if (body === ErrorBody && ERRORS[status]) responses[status] = errorRef(status);
        else if (status === '204') responses[status] = { description: (body as { description?: string }).description ?? 'No content' };
        else if (isContentReply(body)) responses[status] = { description: body.description ?? 'OK', content: body.content };
        else responses[status] = { description: (body as { description?: string }).description ?? 'OK', content: { 'application/json': { schema: body } } };
      }
      for (const status of [...EVERY_OPERATION, ...(schema.body ? ['413'] : [])]) responses[status] ??= errorRef(status);
      const optionalBody = (route.config as { optionalBody?: boolean } | undefined)?.optionalBody === true;
      (paths[url] ??= {})[method.toLowerCase()] = {
        operationId: method === 'POST' && schema.operationId && methods.length === 1 && isAlias(routes, route) ? `${schema.operationId}Post` : schema.operationId,
        summary: schema.summary,
        description: schema.description,
        tags: schema.tags,
        parameters,
        ...(schema.body ? { requestBody: { required: !optionalBody, content: { 'application/json': { schema: schema.body } } } } : {}),
        responses: Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b))),
        ...(schema['x-addition'] ? { 'x-addition': schema['x-addition'] } : {}),
      };
    }
  }
  const tagsUsed = new Set(Object.values(paths).flatMap((item) => Object.values(item).flatMap((op) => (op as { tags?: string[] }).tags ?? [])));
  return {
    openapi: '3.1.0',
    info: {
      title: 'nextAuth Server API',
      version: '2.2',
      description: `The nextAuth API 2.2, with these additions:\n${ADDITIONS.map((a) => `- ${a}`).join('\n')}`,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: publicUrl }],
    tags: TAGS.filter((t) => tagsUsed.has(t.name)),
    components: {
      schemas: { Error: ErrorBody },
      responses: Object.fromEntries(
        [...errorsUsed].sort().map((status) => {
          const { name, description, retryAfter } = ERRORS[status]!;
          return [
            name,
            {
              description,
              ...(retryAfter ? { headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer', minimum: 1 } } } } : {}),
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
            },
          ];
        }),
      ),
      securitySchemes: {
        api_key: { type: 'apiKey', in: 'header', name: 'X-apikey', description: 'API key for a specific (virtual) server' },
        role_id: {
          type: 'apiKey',
          in: 'header',
          name: 'X-su',
          description: "ID of the role to impersonate (the key's role needs global 'root' or 'setrid')",
        },
      },
    },
    security: [{ api_key: [] }, { api_key: [], role_id: [] }],
    'x-additions': ADDITIONS,
    paths,
  };
}

const isContentReply = (body: unknown): body is ContentReply =>
  typeof body === 'object' && body !== null && 'content' in body && typeof (body as ContentReply).content === 'object' && !('type' in body);

function params(schema: RouteSchema['params'], where: 'path' | 'query' | 'header') {
  return Object.entries(schema?.properties ?? {}).map(([name, s]) => ({
    // Headers as 2.2 spells them: X-nonce.
    name: where === 'header' ? name.charAt(0).toUpperCase() + name.slice(1) : name,
    in: where,
    required: where === 'path' || (schema?.required ?? []).includes(name),
    schema: s,
  }));
}

/** A POST route whose path also has a GET with the same operationId (our POST alias). */
const isAlias = (routes: readonly RouteOptions[], route: RouteOptions) =>
  routes.some(
    (r) =>
      r !== route && r.url === route.url && r.method === 'GET' && (r.schema as RouteSchema | undefined)?.operationId === (route.schema as RouteSchema | undefined)?.operationId,
  );
