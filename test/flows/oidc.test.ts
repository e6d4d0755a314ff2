/**
 * Each virtual server an OpenID Provider whose login is the phone: `openid-client` runs the
 * authorization code flow with PKCE in real Chromium, the SDK phone scanning the QR code on the
 * provider's page; the consent page the first time; the ID token verifies against the JWKS
 * (ES256), `sub` is the userid and `amr` says `hwk`; userinfo answers the user's attributes as
 * claims; the refresh token works. Bad input: a wrong redirect URI, a wrong PKCE verifier, a
 * reused code, a client of server A on server B: each the standard OAuth error, nothing issued.
 */
import { createPublicKey, verify } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { launchBrowser, screenshot } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeFlowInChromium } from '../helpers/oidc.ts';
import { keyWith } from '../helpers/rest.ts';
import { type Frame, parseQrText, pushToQr } from '../../src/sdk/app.ts';
import { codeOf, newNonce, newPhone, qr, until } from '../helpers/peers.ts';

let ns: TestServer;
let browser: Browser;
let rp: http.Server;
let rpUrl: string;
let srv: string;
let other: string;
const callbacks: string[] = [];
/** The back-channel logout tokens the application got. */
const logouts: string[] = [];

test.before(async () => {
  // (back-channel logouts go to the application on 127.0.0.1)
  ns = await startTestServer({ NEXTAUTH_WEBHOOK_PRIVATE_ADDRESSES: 'true' });
  browser = await launchBrowser();
  rp = http.createServer((req, res) => {
    callbacks.push(`${rpUrl}${req.url}`);
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url === '/bc') logouts.push(new URLSearchParams(body).get('logout_token') ?? '');
      res.writeHead(200, { 'content-type': 'text/plain' }).end('back at the application');
    });
  });
  await new Promise<void>((r) => rp.listen(0, '127.0.0.1', r));
  rpUrl = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`;
  srv = (await ns.api('POST', '/servers/', { body: { serverName: 'OIDC' } })).body.serverid as string;
  other = (await ns.api('POST', '/servers/', { body: { serverName: 'Other' } })).body.serverid as string;
});
test.after(async () => {
  await browser?.close();
  rp?.close();
  await ns.stop(true);
});

/** Whether a JWT is signed by one of the keys the server's JWKS publishes. */
async function signedByServer(jwt: string, serverid: string): Promise<boolean> {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string };
  const jwks = (await (await fetch(`${issuerOf(serverid)}/jwks`)).json()) as { keys: Array<import('node:crypto').JsonWebKey & { kid: string }> };
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (!jwk) return false;
  return verify(
    'sha256',
    Buffer.from(`${header}.${payload}`),
    { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
    Buffer.from(signature, 'base64url'),
  );
}

const issuerOf = (serverid: string) => `${ns.url}/servers/${serverid}/oidc`;
const discover = (serverid: string, clientId: string, secret?: string) =>
  oidc.discovery(new URL(issuerOf(serverid)), clientId, secret, secret ? undefined : oidc.None(), { execute: [oidc.allowInsecureRequests] });

test('discovery and JWKS per server: the issuer has the server in its path; ES256 and EdDSA keys; PKCE S256 only', async () => {
  const meta = (await (await fetch(`${issuerOf(srv)}/.well-known/openid-configuration`)).json()) as Record<string, any>;
  assert.is(meta.issuer, issuerOf(srv));
  assert.is(meta.token_endpoint, `${issuerOf(srv)}/token`);
  assert.equal(meta.code_challenge_methods_supported, ['S256']);
  assert.equal(meta.id_token_signing_alg_values_supported.sort(), ['ES256', 'EdDSA']);
  const jwks = (await (await fetch(meta.jwks_uri)).json()) as { keys: Array<Record<string, string>> };
  assert.equal(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'EdDSA']);
  for (const k of jwks.keys) assert.not.ok('d' in k, 'no private part published');
  const otherMeta = (await (await fetch(`${issuerOf(other)}/.well-known/openid-configuration`)).json()) as Record<string, any>;
  assert.is(otherMeta.issuer, issuerOf(other));
  const otherKeys = (await (await fetch(otherMeta.jwks_uri)).json()) as { keys: Array<{ kid: string }> };
  assert.not.ok(
    otherKeys.keys.some((k) => jwks.keys.some((j) => j.kid === k.kid)),
    'each server its own keys',
  );
  assert.is((await fetch(`${ns.url}/servers/AAAAAAAAAAAAAAAAAAAAAA/oidc/.well-known/openid-configuration`)).status, 404);
});

test('authorization code + PKCE in Chromium, the phone logs in on the provider’s page; consent; ID token, userinfo, refresh; bad input refused', async () => {
  // A user with attributes, and the phone of its account.
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=ann'));
  assert.is((await ns.api('PUT', `/servers/${srv}/users/ann/attributes/`, { body: { name: 'Ann Example', email: 'ann@example.org' } })).status < 300, true);
  const { client, secret } = await ns.registry.oidcClients.create(srv, { name: 'Wiki', redirectUris: [`${rpUrl}/cb`], postLogoutRedirectUris: [`${rpUrl}/bye`] });
  assert.ok(secret && client.clientId.startsWith('oc_'));
  const config = await discover(srv, client.clientId, secret);

  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${rpUrl}/cb`,
    scope: 'openid profile email offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    prompt: 'consent',
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(authUrl.href);
  const block = page.locator('.nextauth-block');
  await block.waitFor();
  assert.ok(page.url().startsWith(`${issuerOf(srv)}/interaction/`), page.url());
  await screenshot(page, 'oidc-login');
  const { info } = await phone.login((await block.getAttribute('data-link'))!);
  assert.match(JSON.stringify(info), 'Wiki', 'the phone is shown the application');
  // The page goes on by itself to the consent page.
  const allow = page.locator('button[value="allow"]');
  await allow.waitFor({ timeout: 10_000 });
  assert.match(await page.content(), 'offline_access');
  await screenshot(page, 'oidc-consent');
  await allow.click();
  await page.waitForURL(`${rpUrl}/cb**`);
  const back = new URL(page.url());
  assert.is(back.searchParams.get('state'), state);

  const tokens = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  const claims = tokens.claims()!;
  assert.is(claims.sub, 'ann');
  assert.is(claims.iss, issuerOf(srv));
  assert.equal(claims.amr, ['hwk']);
  assert.is(claims.acr, 'urn:nextauth:acr:hwk');
  assert.is(JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()).alg, 'ES256');
  assert.ok(await signedByServer(tokens.id_token!, srv), 'the ID token verifies against the JWKS');
  assert.not.ok(await signedByServer(tokens.id_token!, other), "and not against another server's");
  const info2 = await oidc.fetchUserInfo(config, tokens.access_token, 'ann');
  assert.is(info2.name, 'Ann Example');
  assert.is(info2.email, 'ann@example.org');
  // The server's own mapping: `name` from another attribute.
  assert.is((await ns.api('PUT', `/servers/${srv}/users/ann/attributes/`, { body: { displayName: 'Ann E.' } })).status < 300, true);
  assert.is((await ns.api('PUT', `/servers/${srv}/attributes/`, { body: { oidcClaims: { name: 'displayName' } } })).status < 300, true);
  assert.is((await oidc.fetchUserInfo(config, tokens.access_token, 'ann')).name, 'Ann E.', 'claims by the server’s mapping');
  assert.ok(tokens.refresh_token, 'a refresh token for offline_access');
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  assert.ok(refreshed.access_token && refreshed.access_token !== tokens.access_token);
  assert.is(refreshed.claims()?.sub, 'ann');

  // A second login of the same client: no consent asked again, a wrong verifier refused.
  const v2 = oidc.randomPKCECodeVerifier();
  const url2 = oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${rpUrl}/cb`,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(v2),
    code_challenge_method: 'S256',
    state: 's2',
  });
  await page.goto(url2.href);
  await page.waitForURL(`${rpUrl}/cb**`);
  // An expired code (its record's time is up): refused.
  const code = new URL(page.url()).searchParams.get('code')!;
  const expiredAt = Date.now() - 1;
  await ns.registry.store.transact((tx) => tx.patch('oidc', [srv, 'AuthorizationCode', code], { expiresAt: expiredAt }));
  const expired = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: v2, expectedState: 's2' }).catch((e: { error?: string }) => e.error);
  assert.is(expired, 'invalid_grant', 'an expired code');
  await page.goto(url2.href);
  await page.waitForURL(`${rpUrl}/cb**`);
  const wrong = await oidc
    .authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: 's2' })
    .catch((e: { error?: string }) => e.error);
  assert.is(wrong, 'invalid_grant', 'a wrong PKCE verifier');

  // The same code again: refused, and the grant it made is revoked (its tokens with it).
  const again = await oidc
    .authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce })
    .catch((e: { error?: string }) => e.error);
  assert.is(again, 'invalid_grant');

  assert.is(
    await oidc.fetchUserInfo(config, refreshed.access_token, 'ann').then(
      () => 'answered',
      (e: { status?: number; cause?: unknown }) => String((e as { status?: number }).status ?? 'refused'),
    ),
    '401',
  );

  // A redirect URI the client does not have: an error page, no redirect.
  const bad = oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${rpUrl}/elsewhere`,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(v2),
    code_challenge_method: 'S256',
  });
  const badPage = await fetch(bad, { redirect: 'manual' });
  assert.is(badPage.status, 400);
  assert.match(await badPage.text(), 'redirect_uri');

  // Server A's client on server B: unknown there.
  const elsewhere = oidc.buildAuthorizationUrl(await discover(other, client.clientId, secret), {
    redirect_uri: `${rpUrl}/cb`,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(v2),
    code_challenge_method: 'S256',
  });
  const unknown = await fetch(elsewhere, { redirect: 'manual' });
  assert.is(unknown.status, 400);
  assert.match(await unknown.text(), 'invalid_client');
  await context.close();
});

/** A login in Chromium through the provider's page by `phone` (scope openid profile offline_access): its tokens, and the phone's connection and session. */
async function loginInChromium(config: oidc.Configuration, phone: ReturnType<typeof newPhone>) {
  let connection: Awaited<ReturnType<typeof phone.login>>['connection'] | undefined;
  const { tokens, link } = await codeFlowInChromium({
    browser,
    config,
    redirectUri: `${rpUrl}/cb`,
    params: { scope: 'openid profile offline_access', prompt: 'consent' },
    signIn: async (l) => ({ connection } = await phone.login(l)),
  });
  return { tokens, connection: connection!, hsid: parseQrText(link).hsid };
}

test('a logout of the nextAuth session by the phone ends the OIDC session: a signed back-channel logout token, the refresh token revoked; blocking the account revokes its tokens', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=bea'));
  const { client, secret } = await ns.registry.oidcClients.create(srv, { name: 'Forum', redirectUris: [`${rpUrl}/cb`], backchannelLogoutUri: `${rpUrl}/bc` });
  const config = await discover(srv, client.clientId, secret);
  const first = await loginInChromium(config, phone);
  assert.is(first.tokens.claims()?.sub, 'bea');
  const sid = first.tokens.claims()?.sid;
  first.connection.logout(Buffer.from(first.hsid));
  await until(() => logouts.length > 0, 'the back-channel logout', 10_000);
  const [header, payload, signature] = logouts.at(-1)!.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, any>;
  assert.is(claims.sub, 'bea');
  assert.is(claims.iss, issuerOf(srv));
  assert.is(claims.aud, client.clientId);
  assert.is(claims.sid, sid);
  assert.ok('http://schemas.openid.net/event/backchannel-logout' in claims.events);
  const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string; alg: string };
  assert.is(alg, 'ES256');
  const jwks = (await (await fetch(`${issuerOf(srv)}/jwks`)).json()) as { keys: Array<import('node:crypto').JsonWebKey & { kid: string }> };
  const key = createPublicKey({ key: jwks.keys.find((k) => k.kid === kid)!, format: 'jwk' });
  assert.ok(verify('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url')), 'signed by the server');
  const afterLogout = await oidc.refreshTokenGrant(config, first.tokens.refresh_token!).catch((e: { error?: string }) => e.error);
  assert.is(afterLogout, 'invalid_grant', 'the refresh token went with the session');

  // Logged in again; then an administrator blocks the account: its tokens are revoked.
  const second = await loginInChromium(config, phone);
  assert.ok(second.tokens.refresh_token);
  const acc = (await ns.registry.store.accountsOfUser(srv, 'bea'))[0]!.id;
  assert.is((await ns.api('PUT', `/servers/${srv}/accounts/${acc}/?blocked=true`)).status, 200);
  await until(
    async () => (await oidc.refreshTokenGrant(config, second.tokens.refresh_token!).catch((e: { error?: string }) => e.error)) === 'invalid_grant',
    'the refresh token revoked',
    10_000,
  );
  const userinfo = await oidc.fetchUserInfo(config, second.tokens.access_token, 'bea').then(
    () => 200,
    (e: { status?: number }) => e.status,
  );
  assert.is(userinfo, 401, 'the access token too');
});

test('acr_values urn:nextauth:acr:2fa: the phone is asked for the second factor (a login without it is refused); with the PIN, acr 2fa and amr hwk + pin', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=cid'));
  const { client, secret } = await ns.registry.oidcClients.create(srv, { name: 'Bank', redirectUris: [`${rpUrl}/cb`] });
  const config = await discover(srv, client.clientId, secret);
  let shown: unknown;
  const { tokens } = await codeFlowInChromium({
    browser,
    config,
    redirectUri: `${rpUrl}/cb`,
    params: { acr_values: 'urn:nextauth:acr:2fa' },
    signIn: async (link) => {
      const noPin = newPhone({ keystore: phone.keystore, consent: (info) => ((shown = info), { accept: true, sf: 'none' }) });
      assert.is(await codeOf(noPin.login(link)), 'SECOND_FACTOR_REQUIRED', 'refused without the PIN');
      assert.is((shown as { pinTimeout?: number }).pinTimeout, 0, 'the phone is told to ask for it now');
      await newPhone({ keystore: phone.keystore, sf: 'pin' }).login(link);
    },
  });
  assert.is(tokens.claims()?.acr, 'urn:nextauth:acr:2fa');
  assert.equal(tokens.claims()?.amr, ['hwk', 'pin']);
});

test('login_hint: a push to the user’s listening phone from the provider’s page; the phone answers it and the login goes on', async () => {
  const phone = newPhone();
  await phone.enrol(await qr(ns, srv, newNonce(), 'enrol', '&userid=dan'));
  const { connection } = await phone.listen(srv);
  const pushes: Frame[] = [];
  connection.on('push', (f) => pushes.push(f));
  const { client, secret } = await ns.registry.oidcClients.create(srv, { name: 'Mail', redirectUris: [`${rpUrl}/cb`] });
  const config = await discover(srv, client.clientId, secret);
  const { tokens } = await codeFlowInChromium({
    browser,
    config,
    redirectUri: `${rpUrl}/cb`,
    params: { login_hint: 'dan' },
    signIn: async () => {
      await until(() => pushes.length === 1, 'the push on the phone', 5000);
      await phone.login(pushToQr(pushes[0]!, `${ns.url.replace('http', 'ws')}/ns/sigmai`), { connection });
    },
  });
  assert.is(tokens.claims()?.sub, 'dan');
  assert.is(pushes.length, 1, 'one push per interaction');
  connection.close();
});

test('rotateOidcKeys: the new key is published at once and signs later (no downtime); root on the server only', async () => {
  const before = (await (await fetch(`${issuerOf(other)}/jwks`)).json()) as { keys: Array<{ kid: string; alg: string }> };
  const r = await ns.api('POST', `/servers/${other}/oidc/keys/rotate`);
  assert.is(r.status, 200, JSON.stringify(r.body));
  const keys = r.body.keys as Array<{ kid: string; alg: string; activates?: number; retired?: number }>;
  assert.is(keys.length, 3);
  const fresh = keys.find((k) => k.activates !== undefined)!;
  assert.ok(fresh.activates! > Date.now() + 60_000, 'it signs in two minutes');
  const after = (await (await fetch(`${issuerOf(other)}/jwks`)).json()) as { keys: Array<{ kid: string; alg: string }> };
  assert.ok(
    after.keys.some((k) => k.kid === fresh.kid),
    'published at once',
  );
  assert.ok(
    before.keys.every((k) => after.keys.some((a) => a.kid === k.kid)),
    'the old ones still published',
  );
  assert.not.ok(JSON.stringify(r.body).includes('"d"'), 'no private part answered');
  const { apikey } = await keyWith(ns, ['servers'], other);
  assert.is((await ns.api('POST', `/servers/${other}/oidc/keys/rotate`, { key: apikey })).status, 403);
});

test('a wrong client secret is refused at the token endpoint (invalid_client), and a public client must use PKCE', async () => {
  const { client } = await ns.registry.oidcClients.create(srv, { name: 'SPA', redirectUris: [`${rpUrl}/cb`], public: true });
  const spa = await discover(srv, client.clientId);
  const noPkce = oidc.buildAuthorizationUrl(spa, { redirect_uri: `${rpUrl}/cb`, scope: 'openid' });
  const r = await fetch(noPkce, { redirect: 'manual' });
  const to = new URL(r.headers.get('location') ?? 'http://x/');
  assert.is(to.searchParams.get('error'), 'invalid_request', 'PKCE required');
  const confidential = await ns.registry.oidcClients.create(srv, { name: 'Backend', redirectUris: [`${rpUrl}/cb`] });
  const wrong = await discover(srv, confidential.client.clientId, 'ocs_not-the-secret');
  const refused = await oidc.refreshTokenGrant(wrong, 'whatever').catch((e: { error?: string; cause?: { error?: string } }) => e.error ?? e.cause?.error ?? String(e));
  assert.is(refused, 'invalid_client');
});

test.run();
