/**
 * 2.2 tag HTML: getHtmlLogin, getHtmlFooter, getHtmlEnrol (GET as 2.2, and POST of the same path
 * for their bodies), and the files those pages load from the NS (/ns/nextauth.js, .css,
 * /ns/socket.io.min.js; public, from dist/web). The markup itself is written in src/web/blocks.ts.
 */
import { browserToken } from '../../../core/crypto/browser-token.ts';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { NsError } from '../../../wire/errors.ts';
import { toB64url } from '../../../wire/base64url.ts';
import { deriveHsid, isValidNonce } from '../../../core/crypto/hsid.ts';
import { appLink, enrolQrBytes, loginQrBytes } from '../qr.ts';
import { webAssets, type WebFile } from '../../../web/assets.ts';
import { blockServer, enrolBlock, footer, isMobileAgent, loginBlock, type FooterSession } from '../../../web/blocks.ts';
import { langOf, negotiateLang, type Lang } from '../../../web/i18n.ts';
import type { ServerRecord } from '../../../ports.ts';
import { authorizeServer, type ApiContext, type App } from '../context.ts';
import { ErrorBody, HtmlReply, NonceHeaders, ServerIdParams, UserContext, type UserContextBody } from '../schemas.ts';
import { sendAsset } from '../send-asset.ts';
import { sessionOf } from '../session-of.ts';

const tags = ['HTML'];
const html = { 200: HtmlReply, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody };

export const ServerSession = Type.Object(
  {
    serverid: ServerIdParams.properties.serverid,
    sessionid: Type.String({ minLength: 1, maxLength: 1024, description: 'Base64 encoded nonce' }),
  },
  { additionalProperties: false },
);
/** A browser socket takes at most 64 sessions: the X-nonce one and 63 more. */
export const HtmlFooterBody = Type.Object({ sessions: Type.Optional(Type.Array(ServerSession, { maxItems: 63 })) });
type HtmlFooterBodyT = Static<typeof HtmlFooterBody>;

/** `?lang=` of the three operations (docs/protocol-notes.md, note 33). */
const lang = Type.Optional(
  Type.String({
    pattern: '^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$',
    maxLength: 35,
    description:
      "Language of the block's words: en, de, fr or nl (a regional tag counts as its language: de-CH is de). Without it, or for another language, the request's Accept-Language chooses among them; English when it names none",
  }),
);

const LoginQuery = Type.Object({ lang });

const FooterQuery = Type.Object({
  lang,
  callback: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z_$][A-Za-z0-9_$]*(\\.[A-Za-z_$][A-Za-z0-9_$]*)*$',
      maxLength: 128,
      description: 'Name of a global function (e.g. myApp.onLogin) the footer calls on LOGIN / LOGOUT instead of reloading the page',
    }),
  ),
});

const EnrolQuery = Type.Object({
  lang,
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "Name to forward to the nextAuth app for this account (default: the server's name)" })),
  userid: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'User name to register this user under' })),
});

/** Decodes a ServerSession's sessionid (base64 or base64url of the nonce); BAD_NONCE otherwise. */
function nonceOf(sessionid: string, where: string): string {
  const text = sessionid.trim();
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    const nonce = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1');
    if (isValidNonce(nonce)) return nonce;
  }
  throw new NsError('BAD_NONCE', `${where}: must be base64 of a nonce of 16 to 512 printable ASCII characters`);
}

/** The language of the words: `?lang=` when the catalogue has it, else what Accept-Language asks for. */
function chooseLang(reply: FastifyReply, asked: string | undefined, acceptLanguage: string | undefined): Lang {
  const named = langOf(asked);
  if (named) return named;
  reply.header('vary', 'Accept-Language');
  return negotiateLang(acceptLanguage);
}

const sendHtml = (reply: FastifyReply, body: string) =>
  reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff').type('text/html; charset=utf-8').send(body);

/** The files the blocks load: GET /ns/<name>, public, no key. */
const BLOCK_FILES: WebFile[] = ['nextauth.js', 'nextauth.css', 'socket.io.min.js'];

export function htmlRoutes(app: App, ctx: ApiContext): void {
  const { registry, hub, config } = ctx;
  const assets = webAssets();
  for (const name of BLOCK_FILES) {
    app.get(`/ns/${name}`, { config: { public: true } }, async (req, reply) => sendAsset(req, reply, assets[name]));
  }

  /** The session of a block (hub.show: made, given its context, kept alive while it waits). */
  const prepare = async (server: ServerRecord, hsid: string, body: UserContextBody | undefined) => {
    const status = await hub.show(server.serverid, hsid, body);
    const ua = status.userContext?.sessioninfo?.useragent;
    return { status, mobile: isMobileAgent(ua) };
  };

  for (const method of ['GET', 'POST'] as const) {
    app.route({
      method,
      url: '/servers/:serverid/sessions/html/login',
      config: { optionalBody: true },
      schema: {
        operationId: 'getHtmlLogin',
        summary: 'Generate HTML for the login block',
        description:
          'The QR code (inline SVG), the app link, a push button when the session can be provoked, progress and a countdown, in <div class="nextauth-block">. Required permission: \'sessions\'.',
        tags,
        params: ServerIdParams,
        headers: NonceHeaders,
        querystring: LoginQuery,
        ...(method === 'POST' ? { body: UserContext } : {}),
        response: html,
      },
      handler: async (req, reply) => {
        const { server, hsid } = await sessionOf(ctx, req, ['sessions'], req.params.serverid);
        const { status, mobile } = await prepare(server, hsid, req.body as UserContextBody | undefined);
        const qr = loginQrBytes(server, hsid, config.publicUrl);
        const block = await loginBlock({
          publicUrl: config.publicUrl,
          server: blockServer(server),
          session: {
            hsid,
            bt: browserToken(server.sessionSecret, hsid),
            state: status.state,
            canprovoke: status.canprovoke,
            ...(status.expires !== undefined ? { expires: status.expires } : {}),
          },
          qr,
          link: appLink(server, qr),
          mobile,
          lang: chooseLang(reply, req.query.lang, req.headers['accept-language']),
          now: hub.clock.now(),
        });
        return sendHtml(reply, block);
      },
    });

    app.route({
      method,
      url: '/servers/:serverid/sessions/html/enrol',
      config: { optionalBody: true },
      schema: {
        operationId: 'getHtmlEnrol',
        summary: 'Generate HTML to enrol a new user',
        description:
          'The enrol QR code (inline SVG) and app link with progress and a countdown, in <div class="nextauth-block">. Issues a fresh enrol code for the session. Required permission: \'sessions\'.',
        tags,
        params: ServerIdParams,
        headers: NonceHeaders,
        querystring: EnrolQuery,
        ...(method === 'POST' ? { body: UserContext } : {}),
        response: html,
      },
      handler: async (req, reply) => {
        const { server, hsid } = await sessionOf(ctx, req, ['sessions'], req.params.serverid);
        const name = req.query.name ?? server.serverName;
        const now = hub.clock.now();
        await registry.enrolment.issue(server.serverid, hsid, name, req.query.userid, now);
        const { status, mobile } = await prepare(server, hsid, req.body as UserContextBody | undefined);
        const qr = enrolQrBytes(server, hsid, config.publicUrl, name, req.query.userid);
        const expires = Math.min(now + config.limits.enrol, status.expires ?? Infinity);
        const block = await enrolBlock({
          publicUrl: config.publicUrl,
          server: blockServer(server),
          session: { hsid, bt: browserToken(server.sessionSecret, hsid), state: status.state, canprovoke: false, expires },
          qr,
          link: appLink(server, qr),
          mobile,
          lang: chooseLang(reply, req.query.lang, req.headers['accept-language']),
          now,
        });
        return sendHtml(reply, block);
      },
    });

    app.route({
      method,
      url: '/servers/:serverid/sessions/html/footer',
      config: { optionalBody: true },
      schema: {
        operationId: 'getHtmlFooter',
        summary: 'Generic HTML to add to footer. Required for login/logout/enrol functionality.',
        description:
          "A script (served by the NS) that watches the X-nonce session and the body's sessions over socket.io, falling back to the text socket, keeps the blocks current, and reloads the page on LOGIN / LOGOUT (or calls `callback`). Required permission: 'sessions' (on every server named).",
        tags,
        params: ServerIdParams,
        headers: NonceHeaders,
        querystring: FooterQuery,
        ...(method === 'POST' ? { body: HtmlFooterBody } : {}),
        response: html,
      },
      handler: async (req, reply) => {
        const { server, hsid } = await sessionOf(ctx, req, ['sessions'], req.params.serverid);
        const watched: FooterSession[] = [];
        const seen = new Set<string>();
        const add = async (s: ServerRecord, h: string) => {
          if (seen.has(`${s.serverid}:${h}`)) return;
          seen.add(`${s.serverid}:${h}`);
          watched.push({ srv: s.serverid, hsid: h, bt: browserToken(s.sessionSecret, h), loggedin: (await hub.status(s.serverid, h)).state === 'authenticated' });
        };
        await add(server, hsid);
        const body = req.body as HtmlFooterBodyT | undefined;
        // Check every entry before answering: a key must hold 'sessions' on each server it names.
        for (const [i, s] of (body?.sessions ?? []).entries()) {
          const other = await authorizeServer(ctx, req, ['sessions'], s.serverid);
          const nonce = nonceOf(s.sessionid, `body/sessions/${i}/sessionid`);
          await add(other, toB64url(deriveHsid(Buffer.from(other.sessionSecret, 'base64url'), nonce)));
        }
        return sendHtml(reply, footer(config.publicUrl, watched, chooseLang(reply, req.query.lang, req.headers['accept-language']), req.query.callback));
      },
    });
  }
}
