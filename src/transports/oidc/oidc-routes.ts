/**
 * The OpenID Provider of each virtual server, on `/servers/<serverid>/oidc/…` (providers.ts):
 * oidc-provider answers its own endpoints (discovery, JWKS, authorization, token, userinfo,
 * revocation, end session) on the raw request, in a scope of their own that leaves request
 * bodies unread. The interaction is ours: its login is a nextAuth session, made for it with a
 * nonce that never leaves the server. The page shows the NS's own login block (QR code, app
 * link on a phone), in the browser's language; the phone's challenge names the application and
 * the scopes it asks for; once the phone logs the session in, the page goes on (the footer
 * script) and the provider finishes the login: `sub` the account's userid, `amr` `hwk`
 * (and `pin` with the second factor). The first time an application asks for scopes, a consent
 * page lets the user allow or refuse them.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { deriveHsid } from '../../core/crypto/hsid.ts';
import { browserToken } from '../../core/crypto/browser-token.ts';
import { isServerId } from '../../core/crypto/ids.ts';
import type { ServerRecord } from '../../ports.ts';
import { blockServer, esc, footer, isMobileAgent, loginBlock } from '../../web/blocks.ts';
import { MESSAGES, negotiateLang, type Lang } from '../../web/i18n.ts';
import { toB64url } from '../../wire/base64url.ts';
import { NsError } from '../../wire/errors.ts';
import type { ApiContext, App } from '../http/context.ts';
import { appLink, loginQrBytes } from '../http/qr.ts';
import { oidcPage } from './pages.ts';
import { ACR, LOGIN_MODEL as LOGIN, loginKey, type OidcProviders } from './providers.ts';

type Params = { serverid: string; uid?: string };

const NONCE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const newNonce = () => Array.from(randomBytes(40), (b) => NONCE_CHARS[b % NONCE_CHARS.length]).join('');

export function oidcRoutes(app: App, ctx: ApiContext & { oidc: OidcProviders }): void {
  const { registry, hub, config, oidc } = ctx;
  const page = (lang: Lang, title: string, body: string) => oidcPage(config.publicUrl, lang, title, body);

  const serverOf = async (serverid: string): Promise<ServerRecord> => {
    if (!isServerId(serverid)) throw new NsError('BAD_SERVERID');
    return registry.servers.require(serverid);
  };

  const send = (reply: FastifyReply, status: number, html: string) =>
    reply.code(status).header('cache-control', 'no-store').header('x-frame-options', 'DENY').type('text/html; charset=utf-8').send(html);

  app.register(async (scope) => {
    // oidc-provider reads the bodies itself.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));

    const provider = async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      await serverOf(req.params.serverid);
      const { callback, mountPath } = await oidc.get(req.params.serverid);
      const raw = req.raw as typeof req.raw & { originalUrl?: string };
      const rest = (raw.url ?? '').slice(mountPath.length);
      raw.originalUrl = raw.url;
      raw.url = rest.startsWith('/') ? rest : `/${rest}`;
      reply.hijack();
      callback(raw, reply.raw);
    };
    const open = { config: { public: true } };
    scope.all('/servers/:serverid/oidc', open, provider);
    scope.all('/servers/:serverid/oidc/*', open, provider);

    scope.get('/servers/:serverid/oidc/interaction/:uid', open, async (req: FastifyRequest<{ Params: Params }>, reply) => {
      const server = await serverOf(req.params.serverid);
      const { provider: op } = await oidc.get(server.serverid);
      const details = await op.interactionDetails(req.raw, reply.raw);
      const lang = negotiateLang(req.headers['accept-language']);
      const words = MESSAGES[lang];
      if (details.uid !== req.params.uid) throw new NsError('BAD_REQUEST', 'This is not the interaction the browser is in');
      const client = await op.Client.find(String(details.params.client_id));
      const clientName = client?.clientName ?? String(details.params.client_id);
      const scopes = String(details.params.scope ?? 'openid')
        .split(' ')
        .filter(Boolean);

      if (details.prompt.name === 'consent') {
        const missing = [...((details.prompt.details.missingOIDCScope as string[] | undefined) ?? [])];
        return send(
          reply,
          200,
          page(
            lang,
            server.serverName,
            `<h1>${esc(server.serverName)}</h1><p>${words.consentAsks(`<strong>${esc(clientName)}</strong>`, missing.map((x) => `<code>${esc(x)}</code>`).join(', '))}</p>` +
              `<form method="post" action="${esc(`${req.params.uid}/consent`)}"><button name="decision" value="allow">${esc(words.allow)}</button> <button name="decision" value="deny">${esc(words.refuse)}</button></form>`,
          ),
        );
      }

      // Login: the interaction's own nextAuth session.
      const kept = await registry.store.get('oidc', server.serverid, LOGIN, details.uid);
      let nonce = kept?.payload.nonce as string | undefined;
      if (!nonce) {
        nonce = newNonce();
        const made = nonce;
        await registry.store.transact((tx) => tx.put('oidc', [server.serverid, LOGIN, details.uid], { payload: { nonce: made }, expiresAt: details.exp * 1000 }));
      }
      const hsid = toB64url(deriveHsid(Buffer.from(server.sessionSecret, 'base64url'), nonce));
      const ua = req.headers['user-agent'];
      // `acr_values` naming the second factor: this login needs the PIN (or biometrics), whatever the server's policy.
      const needsSecondFactor = String(details.params.acr_values ?? '')
        .split(' ')
        .includes(ACR.secondFactor);
      const status = await hub.show(server.serverid, hsid, {
        sessioninfo: { ip: req.ip, ...(ua ? { useragent: ua.slice(0, 512) } : {}), info: `${clientName}: ${scopes.join(' ')}` },
        ...(needsSecondFactor ? { secondFactor: 'required' as const } : {}),
      });
      if (status.state === 'authenticated' && status.account !== null) {
        const account = await registry.accounts.get(server.serverid, status.account);
        if (!account?.userid) throw new NsError('NO_ACCOUNT', "This phone's account is not linked to a user of this server");
        // A second factor at this login (its time is the login's).
        const secondFactor = account.lastSecondFactor !== undefined && account.lastlogin !== undefined && account.lastSecondFactor >= account.lastlogin;
        if (needsSecondFactor && !secondFactor) {
          reply.hijack();
          return op.interactionFinished(
            req.raw,
            reply.raw,
            { error: 'access_denied', error_description: 'This login needed the second factor' },
            { mergeWithLastSubmission: false },
          );
        }
        // Its logout will end what this login starts (as long as an OIDC session lives).
        await registry.store.transact((tx) =>
          tx.put('oidc', [server.serverid, LOGIN, details.uid], {
            payload: { nonce: nonce!, userid: account.userid! },
            accountId: loginKey(hsid),
            expiresAt: Date.now() + 14 * 86400_000,
          }),
        );
        reply.hijack();
        return op.interactionFinished(
          req.raw,
          reply.raw,
          { login: { accountId: account.userid, amr: secondFactor ? ['hwk', 'pin'] : ['hwk'], acr: secondFactor ? ACR.secondFactor : ACR.key, remember: true } },
          { mergeWithLastSubmission: false },
        );
      }
      // `login_hint` naming a user: a push to its phones, once per interaction (the code stays for another phone).
      const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined;
      if (hint && status.state === 'waiting' && kept?.payload.pushed === undefined) {
        const accounts = (await registry.store.accountsOfUser(server.serverid, hint).catch(() => [])).filter((a) => !a.blocked).map((a) => a.id);
        const made = nonce;
        await registry.store.transact((tx) =>
          tx.put('oidc', [server.serverid, LOGIN, details.uid], { payload: { nonce: made, pushed: accounts.length > 0 }, expiresAt: details.exp * 1000 }),
        );
        if (accounts.length > 0) await ctx.push.provoke(server.serverid, hsid, accounts, req.ip).catch(() => undefined); // refused (a limit, muted): the code is there
      }
      const qr = loginQrBytes(server, hsid, config.publicUrl);
      const bt = browserToken(server.sessionSecret, hsid);
      const block = await loginBlock({
        publicUrl: config.publicUrl,
        server: blockServer(server),
        session: { hsid, bt, state: status.state, canprovoke: status.canprovoke, ...(status.expires !== undefined ? { expires: status.expires } : {}) },
        qr,
        link: appLink(server, qr),
        mobile: isMobileAgent(ua),
        lang,
        now: hub.clock.now(),
      });
      // The footer script reloads the page once the session logs in: this route then finishes the login.
      const watch = footer(config.publicUrl, [{ srv: server.serverid, hsid, bt, loggedin: false }], lang);
      return send(reply, 200, page(lang, server.serverName, `<h1>${esc(server.serverName)}</h1><p>${esc(clientName)}</p>${block}${watch}`));
    });

    scope.post('/servers/:serverid/oidc/interaction/:uid/consent', open, async (req: FastifyRequest<{ Params: Params }>, reply) => {
      const server = await serverOf(req.params.serverid);
      const { provider: op } = await oidc.get(server.serverid);
      const details = await op.interactionDetails(req.raw, reply.raw);
      if (details.uid !== req.params.uid || details.prompt.name !== 'consent' || !details.session) throw new NsError('BAD_REQUEST', 'No consent is asked in this interaction');
      let body = '';
      for await (const chunk of req.raw) {
        body += chunk;
        if (body.length > 4096) throw new NsError('BODY_TOO_LARGE');
      }
      const decision = new URLSearchParams(body).get('decision');
      reply.hijack();
      if (decision !== 'allow') {
        return op.interactionFinished(req.raw, reply.raw, { error: 'access_denied', error_description: 'The user refused' }, { mergeWithLastSubmission: false });
      }
      const grant = details.grantId
        ? ((await op.Grant.find(details.grantId)) ?? new op.Grant({ accountId: details.session.accountId, clientId: String(details.params.client_id) }))
        : new op.Grant({ accountId: details.session.accountId, clientId: String(details.params.client_id) });
      const missing = (details.prompt.details.missingOIDCScope as string[] | undefined) ?? [];
      if (missing.length) grant.addOIDCScope(missing.join(' '));
      const claims = (details.prompt.details.missingOIDCClaims as string[] | undefined) ?? [];
      if (claims.length) grant.addOIDCClaims(claims);
      const grantId = await grant.save();
      return op.interactionFinished(req.raw, reply.raw, { consent: { grantId } }, { mergeWithLastSubmission: true });
    });
  });
}
