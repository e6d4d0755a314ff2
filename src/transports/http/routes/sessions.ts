/** 2.2 tag Sessions: getSession, getQrLogin, logout, and the three provokeLogin operations. */
import { browserToken } from '../../../core/crypto/browser-token.ts';
import { Type } from '@sinclair/typebox';
import { toB64 } from '../../../wire/base64url.ts';
import { loginQrBytes } from '../qr.ts';
import { userid, type ApiContext, type App } from '../context.ts';
import { sendQr } from '../images.ts';
import { AccountIdParams, LoginStatus, NonceHeaders, QrReply, ServerIdParams, UserContext, UserIdParams, ok, type UserContextBody } from '../schemas.ts';
import { NsError } from '../../../wire/errors.ts';
import { provokeSession } from '../../../core/push/provoke.ts';
import { sessionOf } from '../session-of.ts';

const tags = ['Sessions'];

export const QrQuery = Type.Object({
  img: Type.Optional(Type.Union([Type.Literal('png'), Type.Literal('svg')], { description: "'png' or 'svg' for an image; not set for the raw QR bytes" })),
  s: Type.Optional(Type.Integer({ minimum: 64, maximum: 2000, default: 500, description: 'size in pixels (default 500)' })),
});

export function sessionRoutes(app: App, ctx: ApiContext): void {
  const { registry, hub, config } = ctx;

  app.get(
    '/servers/:serverid/sessions/',
    {
      schema: {
        operationId: 'getSession',
        summary: 'Check if the user is logged in',
        tags: ['Sessions', 'HTML'],
        params: ServerIdParams,
        headers: NonceHeaders,
        response: { 200: LoginStatus },
      },
    },
    async (req) => {
      const { server, hsid } = await sessionOf(ctx, req, ['sessions'], req.params.serverid);
      const status = await hub.open(server.serverid, hsid);
      const account = status.account !== null ? await registry.accounts.get(server.serverid, status.account) : undefined;
      return {
        loggedin: status.state === 'authenticated' && account !== undefined,
        ...(account ? { accountid: account.id, pk: Buffer.from(account.pk, 'base64url').toString('base64') } : {}),
        ...(account?.userid !== undefined ? { userid: account.userid } : {}),
        hsid,
        loginqrdata: toB64(loginQrBytes(server, hsid, config.publicUrl)),
        canprovoke: status.canprovoke,
        state: status.state,
        ...(status.userinput !== null ? { userinput: status.userinput } : {}),
        ...(status.expires !== undefined ? { expires: status.expires } : {}),
        browsertoken: browserToken(server.sessionSecret, hsid),
      };
    },
  );

  // GET as 2.2; POST carries the UserContext body (fastify reads no GET body).
  for (const method of ['GET', 'POST'] as const) {
    app.route({
      method,
      url: '/servers/:serverid/sessions/qr/login',
      config: { optionalBody: true },
      schema: {
        operationId: 'getQrLogin',
        summary: 'Generate data for a login qr code',
        tags,
        params: ServerIdParams,
        headers: NonceHeaders,
        querystring: QrQuery,
        ...(method === 'POST' ? { body: UserContext } : {}),
        response: { 200: QrReply },
      },
      handler: async (req, reply) => {
        const { server, hsid } = await sessionOf(ctx, req, ['sessions'], req.params.serverid);
        await hub.show(server.serverid, hsid, req.body as UserContextBody | undefined);
        return sendQr(reply, loginQrBytes(server, hsid, config.publicUrl), req.query);
      },
    });
  }

  // ---- pushes --------------------------------------------------------------------------------
  const pushed = { 200: ok };

  app.post(
    '/servers/:serverid/sessions/provokelogin',
    {
      config: { optionalBody: true },
      schema: {
        operationId: 'provokeLogin',
        summary: "Push a login to the app of the session's last account",
        tags,
        params: ServerIdParams,
        headers: NonceHeaders,
        body: UserContext,
        response: pushed,
      },
    },
    async (req) => {
      const { server, hsid } = await sessionOf(ctx, req, ['sessions'], req.params.serverid);
      await hub.show(server.serverid, hsid, req.body);
      await provokeSession(registry, hub, ctx.push, server.serverid, hsid, req.ip);
      return null;
    },
  );

  app.post(
    '/servers/:serverid/users/:userid/provokelogin',
    {
      config: { optionalBody: true },
      schema: {
        operationId: 'provokeLoginOnUser',
        summary: "Push a login to the apps of the user's accounts",
        tags,
        params: UserIdParams,
        headers: NonceHeaders,
        body: UserContext,
        response: pushed,
      },
    },
    async (req) => {
      const { server, hsid } = await sessionOf(ctx, req, ['sessions', 'users'], req.params.serverid);
      await registry.users.require(server.serverid, userid(req.params));
      const accounts = (await registry.accounts.ofUser(server.serverid, req.params.userid)).map((a) => a.id);
      if (accounts.length === 0) throw new NsError('CANNOT_PROVOKE', 'The user has no account');
      await hub.show(server.serverid, hsid, req.body);
      await ctx.push.provoke(server.serverid, hsid, accounts, req.ip);
      return null;
    },
  );

  app.post(
    '/servers/:serverid/accounts/:accountid/provokelogin',
    {
      config: { optionalBody: true },
      schema: {
        operationId: 'provokeLoginOnAccount',
        summary: "Push a login to the account's app",
        tags,
        params: AccountIdParams,
        headers: NonceHeaders,
        body: UserContext,
        response: pushed,
      },
    },
    async (req) => {
      const { server, hsid } = await sessionOf(ctx, req, ['sessions', 'accounts'], req.params.serverid);
      const account = await registry.accounts.require(server.serverid, req.params.accountid);
      if (account.blocked) throw new NsError('ACCOUNT_BLOCKED');
      await hub.show(server.serverid, hsid, req.body);
      await ctx.push.provoke(server.serverid, hsid, [account.id], req.ip);
      return null;
    },
  );

  app.post(
    '/servers/:serverid/sessions/logout',
    {
      schema: {
        operationId: 'logout',
        summary: 'Force a logout on the given session',
        tags: ['Sessions', 'HTML'],
        params: ServerIdParams,
        headers: NonceHeaders,
        response: { 200: ok },
      },
    },
    async (req) => {
      const { server, hsid } = await sessionOf(ctx, req, ['sessions'], req.params.serverid);
      if (!(await hub.logout(server.serverid, hsid, req.ip))) throw new NsError('INTERNAL', 'The logout could not be saved');
      return null;
    },
  );
}
