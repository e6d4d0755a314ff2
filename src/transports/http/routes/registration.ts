/** 2.2 tag Registration: getQrEnrol, registerUser, getServerVash. */
import { Type } from '@sinclair/typebox';
import { NsError } from '../../../wire/errors.ts';
import { isValidUserid } from '../../../core/admin/accounts.ts';
import { enrolQrBytes } from '../qr.ts';
import { authorizeServer, type ApiContext, type App } from '../context.ts';
import { sendQr, vashPng } from '../images.ts';
import { NonceHeaders, QrReply, ServerIdParams, VashReply, ok } from '../schemas.ts';
import { QrQuery } from './sessions.ts';
import { sessionOf } from '../session-of.ts';

const tags = ['Registration'];
const Userid = Type.String({ minLength: 1, maxLength: 256, description: 'User name' });

export function registrationRoutes(app: App, ctx: ApiContext): void {
  const { registry, hub, config } = ctx;

  app.get(
    '/servers/:serverid/sessions/qr/enrol',
    {
      schema: {
        operationId: 'getQrEnrol',
        summary: 'Generate data for an enrol qr code',
        tags,
        params: ServerIdParams,
        headers: NonceHeaders,
        querystring: Type.Object({
          name: Type.String({ minLength: 1, maxLength: 256, description: 'Name to forward to the nextAuth app for this account' }),
          userid: Type.Optional(Userid),
          ...QrQuery.properties,
        }),
        response: { 200: QrReply },
      },
    },
    async (req, reply) => {
      const { server, hsid } = await sessionOf(ctx, req, ['sessions'], req.params.serverid);
      const { name, userid, img, s } = req.query;
      await registry.enrolment.issue(server.serverid, hsid, name, userid, hub.clock.now());
      await hub.show(server.serverid, hsid);
      return sendQr(reply, enrolQrBytes(server, hsid, config.publicUrl, name, userid), { img, s });
    },
  );

  app.post(
    '/servers/:serverid/sessions/registeruser',
    {
      schema: {
        operationId: 'registerUser',
        summary: 'Register a userid for the currently logged in account',
        tags: ['Users', 'Registration'],
        params: ServerIdParams,
        headers: NonceHeaders,
        querystring: Type.Object({ userid: Type.String({ description: 'Username to register (1 to 256 characters)' }) }),
        response: { 200: ok },
      },
    },
    async (req) => {
      const { server, hsid } = await sessionOf(ctx, req, ['users'], req.params.serverid);
      if (!isValidUserid(req.query.userid)) throw new NsError('BAD_USERID');
      const { account } = await hub.status(server.serverid, hsid);
      if (account === null) throw new NsError('NO_ACCOUNT');
      await registry.accounts.setUser(server.serverid, account, req.query.userid, req.ip);
      return null;
    },
  );

  app.get(
    '/servers/:serverid/vash',
    {
      schema: { operationId: 'getServerVash', summary: 'Visual hash of this server', tags, params: ServerIdParams, response: { 200: VashReply } },
    },
    async (req, reply) => {
      const server = await authorizeServer(ctx, req, ['sessions', 'servers'], req.params.serverid);
      reply.header('cache-control', 'public, max-age=86400');
      return reply.type('image/png').send(vashPng(Buffer.from(server.serverid, 'base64url'), Buffer.from(server.publicKey, 'base64url')));
    },
  );
}
