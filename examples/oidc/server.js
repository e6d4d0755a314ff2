// @ts-check
/**
 * A small site that logs its visitors in with OpenID Connect, as any application would, with a
 * standard library (openid-client): its OpenID Provider is a nextAuth virtual server, whose login
 * page is the phone's. Authorization code flow with PKCE; the ID token's claims in a session of
 * this site (in memory, by an HttpOnly cookie); logout by the provider's end-session endpoint.
 *
 *   ISSUER=http://127.0.0.1:8080/servers/<serverid>/oidc CLIENT_ID=… CLIENT_SECRET=… node server.js
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import * as oidc from 'openid-client';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, HOST = '127.0.0.1', PORT = '3000' } = process.env;
if (!ISSUER || !CLIENT_ID || !CLIENT_SECRET) {
  console.error('Set ISSUER, CLIENT_ID and CLIENT_SECRET (see README.md).');
  process.exit(1);
}
const base = `http://${HOST}:${PORT}`;
// http:// only for a provider on this machine (the README's setup); https:// otherwise.
const insecure = new URL(ISSUER).protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {};
const config = await oidc.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, undefined, insecure);

/** @typedef {{ verifier?: string, state?: string, claims?: Record<string, unknown>, idToken?: string }} Session */
/** @type {Map<string, Session>} */
const sessions = new Map();

/** @param {unknown} text */
const esc = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** @param {string} body */
const page = (body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>OIDC example</title><link rel="icon" href="data:,"></head>
<body><main><h1>OIDC example</h1>
${body}
</main></body></html>`;

const app = express();
/** This visitor's session (made on first sight, by an HttpOnly, SameSite=Lax cookie). @returns {Session} */
function sessionOf(/** @type {import('express').Request} */ req, /** @type {import('express').Response} */ res) {
  const id = /(?:^|;\s*)sid=([A-Za-z0-9_-]{32})/.exec(req.headers.cookie ?? '')?.[1];
  if (id && sessions.has(id)) return /** @type {Session} */ (sessions.get(id));
  const fresh = randomBytes(24).toString('base64url');
  res.cookie('sid', fresh, { httpOnly: true, sameSite: 'lax', path: '/' });
  const session = {};
  sessions.set(fresh, session);
  return session;
}

app.get('/', (req, res) => {
  const s = sessionOf(req, res);
  const who = s.claims && (s.claims.name ?? s.claims.sub);
  res
    .set('cache-control', 'no-store')
    .type('html')
    .send(page(who ? `<p id="hello">Hello ${esc(who)}</p><p><a href="/logout">Log out</a></p>` : `<p><a id="login" href="/login">Log in with your phone</a></p>`));
});

app.get('/login', async (req, res) => {
  const s = sessionOf(req, res);
  s.verifier = oidc.randomPKCECodeVerifier();
  s.state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${base}/cb`,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(s.verifier),
    code_challenge_method: 'S256',
    state: s.state,
  });
  res.redirect(303, url.href);
});

app.get('/cb', async (req, res) => {
  const s = sessionOf(req, res);
  try {
    const tokens = await oidc.authorizationCodeGrant(config, new URL(req.originalUrl, base), { pkceCodeVerifier: s.verifier, expectedState: s.state });
    s.claims = { ...tokens.claims(), ...(await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()?.sub ?? oidc.skipSubjectCheck)) };
    s.idToken = tokens.id_token;
    delete s.verifier;
    delete s.state;
    res.redirect(303, '/');
  } catch (e) {
    res
      .status(400)
      .type('html')
      .send(page(`<p id="error">The login did not work: ${esc(/** @type {Error} */ (e).message)}</p><p><a href="/">Back</a></p>`));
  }
});

app.get('/logout', (req, res) => {
  const s = sessionOf(req, res);
  const hint = s.idToken;
  delete s.claims;
  delete s.idToken;
  res.redirect(303, hint ? oidc.buildEndSessionUrl(config, { id_token_hint: hint, post_logout_redirect_uri: `${base}/` }).href : '/');
});

const server = app.listen(Number(PORT), HOST, () => {
  const address = server.address();
  console.log(`listening on http://${HOST}:${typeof address === 'object' && address ? address.port : PORT}`);
});
