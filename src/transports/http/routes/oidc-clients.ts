/**
 * Tag OpenID Connect (our addition to 2.2): the clients of a virtual server's OpenID Provider
 * (docs/oidc.md), the applications that log their users in with it. A confidential client's
 * secret is answered once, by createOidcClient; it is kept as a hash, so no other answer and no
 * log line can carry it.
 *
 * Permission: `root` on the server, as the webhooks (webhooks.ts): a client is handed the claims
 * of the server's users, every attribute the scopes name, so it needs the permission that holds
 * all of them. 403 without it, then 404 UNKNOWN_SERVER, then 404 UNKNOWN_OIDC_CLIENT for a client
 * the server does not have (another server's included).
 *
 * These routes are on the main app (JSON bodies), beside the provider's own wildcard routes on
 * `/servers/<serverid>/oidc/*` (src/transports/oidc/oidc-routes.ts, a scope without body
 * parsers): their static paths win over the wildcard, and the provider has no `/clients` path.
 */
import { Type } from '@sinclair/typebox';
import { OIDC_SCOPES } from '../../../core/oidc/oidc-clients.ts';
import { keyViews, ROTATION, rotateOidcKeys } from '../../../core/oidc/oidc-keys.ts';
import { authorizeServer, type ApiContext, type App } from '../context.ts';
import { ErrorBody, ServerIdParams } from '../schemas.ts';

const tags = ['OpenID Connect'];
const ROOT = ['root'] as const;
const ADDITION = 'OpenID Connect: each server an OpenID Provider (docs/oidc.md), these its clients';

const ClientParams = Type.Object({
  serverid: ServerIdParams.properties.serverid,
  clientid: Type.String({ minLength: 1, maxLength: 64, description: 'Client id (oc_…)' }),
});

const uri = (description: string) => Type.String({ minLength: 1, maxLength: 2048, description });
const uris = (description: string) => Type.Array(uri('An absolute https:// URL (http:// only for localhost), without fragment'), { maxItems: 16, description });
const scopes = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  maxItems: 16,
  description: `The scopes it may ask for, of ${OIDC_SCOPES.join(', ')} (openid always); default openid profile email offline_access`,
});

const CreateOidcClient = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, description: 'Its name, shown to the user on the phone and the consent page' }),
    redirectUris: uris('Where the authorization answers go (1 to 16)'),
    public: Type.Optional(Type.Boolean({ description: 'A single-page or native app: no secret, PKCE only (default false: confidential, with a secret)' })),
    postLogoutRedirectUris: Type.Optional(uris('Where RP-initiated logout may return to')),
    backchannelLogoutUri: Type.Optional(uri('Where back-channel logout tokens are POSTed')),
    scopes: Type.Optional(scopes),
  },
  { additionalProperties: false },
);

const OidcClient = Type.Object({
  clientId: Type.String({ description: 'Its client_id (oc_…)' }),
  name: Type.String(),
  public: Type.Boolean({ description: 'true: no secret (token_endpoint_auth_method none); false: client_secret_basic' }),
  redirectUris: Type.Array(Type.String()),
  postLogoutRedirectUris: Type.Array(Type.String()),
  backchannelLogoutUri: Type.Optional(Type.String()),
  scopes: Type.Array(Type.String()),
  created: Type.Integer({ description: 'When it was made (ms since epoch)' }),
});
const NewOidcClient = Type.Object({
  ...OidcClient.properties,
  secret: Type.Optional(Type.String({ description: "A confidential client's client_secret: shown this once (only its hash is kept), keep it safe" })),
});
const OidcClientList = Type.Object({ clients: Type.Array(OidcClient) });
const SigningKeys = Type.Object({
  keys: Type.Array(
    Type.Object({
      kid: Type.String(),
      alg: Type.String(),
      created: Type.Integer({ description: 'When it was made (ms since epoch)' }),
      activates: Type.Optional(Type.Integer({ description: 'It signs from then on (ms since epoch)' })),
      retired: Type.Optional(Type.Integer({ description: 'It stopped signing then; published until the tokens it signed have expired' })),
    }),
  ),
});
const notFound = { 404: ErrorBody };

export function oidcClientRoutes(app: App, ctx: ApiContext): void {
  const { oidcClients } = ctx.registry;
  const schema = { tags, 'x-addition': ADDITION };
  const base = '/servers/:serverid/oidc/clients';

  app.post(
    base,
    {
      schema: {
        ...schema,
        operationId: 'createOidcClient',
        summary: 'Register an OpenID Connect client',
        description:
          "An application that logs its users in with the server's OpenID Provider. The answer is the only one with a confidential client's secret. Bad metadata (a redirect URI that is not https, an unknown scope, more clients than a server may have) is 400 BAD_REQUEST. Permission: 'root' on the server.",
        params: ServerIdParams,
        body: CreateOidcClient,
        response: { 201: NewOidcClient, ...notFound },
      },
    },
    async (req, reply) => {
      const { serverid } = req.params;
      await authorizeServer(ctx, req, ROOT, serverid);
      const { client, secret } = await oidcClients.create(serverid, req.body);
      req.log.info({ serverid, oidcClient: client.clientId, public: client.public }, 'oidc client created');
      return reply.code(201).send(secret === undefined ? client : { ...client, secret });
    },
  );

  app.get(
    base,
    {
      schema: {
        ...schema,
        operationId: 'getOidcClients',
        summary: "List a server's OpenID Connect clients",
        description: "Oldest first, never with a secret. Permission: 'root' on the server.",
        params: ServerIdParams,
        response: { 200: OidcClientList, ...notFound },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ROOT, req.params.serverid);
      return { clients: await oidcClients.list(req.params.serverid) };
    },
  );

  app.delete(
    `${base}/:clientid`,
    {
      schema: {
        ...schema,
        operationId: 'deleteOidcClient',
        summary: 'Delete an OpenID Connect client',
        description: "Its logins stop: the provider no longer knows it. Permission: 'root' on the server.",
        params: ClientParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...notFound },
      },
    },
    async (req, reply) => {
      const { serverid, clientid } = req.params;
      await authorizeServer(ctx, req, ROOT, serverid);
      await oidcClients.delete(serverid, clientid);
      req.log.info({ serverid, oidcClient: clientid }, 'oidc client deleted');
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/servers/:serverid/oidc/keys/rotate',
    {
      schema: {
        ...schema,
        operationId: 'rotateOidcKeys',
        summary: "Rotate the server's ID token signing key",
        description:
          "A new ES256 key, published at once and signing two minutes later (every process of a cluster publishes it by then); the one it replaces stays published for a day, so tokens it signed still verify. No downtime, nothing to tell the applications. Permission: 'root' on the server.",
        params: ServerIdParams,
        response: { 200: SigningKeys, ...notFound },
      },
    },
    async (req) => {
      const { serverid } = req.params;
      await authorizeServer(ctx, req, ROOT, serverid);
      const { keys } = await rotateOidcKeys(ctx.registry.store, serverid, ROTATION);
      ctx.oidc?.forget(serverid);
      req.log.info({ serverid }, 'oidc signing key rotated');
      return { keys: keyViews(keys) };
    },
  );
}
