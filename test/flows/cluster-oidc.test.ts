/**
 * OpenID Connect in a cluster: two NS processes on one PostgreSQL and one Redis, one public URL
 * (as behind a load balancer). The browser's authorization and the phone's login go through
 * process 1; the application's token, userinfo and refresh requests reach process 2: the
 * provider's state (interaction, session, code, grant, tokens) and its keys are the store's, so
 * either process answers. Skipped (one line) without PostgreSQL and Redis; under CI=true that is
 * a failure.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { launchBrowser } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/ns.ts';
import { codeFlowInChromium } from '../helpers/oidc.ts';
import { newNonce, newPhone, qr } from '../helpers/peers.ts';
import { databases, type Databases } from '../helpers/pg-databases.ts';
import { freePort } from '../helpers/private-services.ts';
import { clusterEnv, type RedisRun, redisRun } from '../helpers/redis.ts';
import { service } from '../helpers/services.ts';

const pgUrl = await service('postgres');
const redis: RedisRun | undefined = pgUrl ? await redisRun('oidc') : undefined;

if (pgUrl && redis) {
  let dbs: Databases;
  let one: TestServer;
  let two: TestServer;
  let browser: Browser;
  let rp: http.Server;
  let rpUrl: string;

  test.before(async () => {
    dbs = databases(pgUrl);
    const port = await freePort();
    const env = { ...(await clusterEnv(dbs, redis)), NEXTAUTH_PUBLIC_URL: `http://127.0.0.1:${port}` };
    one = await startTestServer({ ...env, NEXTAUTH_PORT: String(port) });
    two = await startTestServer(env);
    browser = await launchBrowser();
    rp = http.createServer((_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((r) => rp.listen(0, '127.0.0.1', r));
    rpUrl = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`;
  });
  test.after(async () => {
    await browser?.close();
    rp?.close();
    await Promise.allSettled([one?.stop(true), two?.stop(true)]);
    await dbs?.dropAll();
    await redis.cleanup();
  });

  test('authorize and log in on process 1; the token, userinfo and refresh answered by process 2', async () => {
    assert.is(one.url, one.config.publicUrl, 'process 1 is the public URL');
    const srv = (await one.api('POST', '/servers/', { body: { serverName: 'Cluster OIDC' } })).body.serverid as string;
    const phone = newPhone();
    await phone.enrol(await qr(one, srv, newNonce(), 'enrol', '&userid=eve'));
    assert.is((await two.api('PUT', `/servers/${srv}/users/eve/attributes/`, { body: { name: 'Eve' } })).status < 300, true);
    const made = await two.api('POST', `/servers/${srv}/oidc/clients`, { body: { name: 'Portal', redirectUris: [`${rpUrl}/cb`] } });
    assert.is(made.status, 201, JSON.stringify(made.body));
    const issuer = `${one.url}/servers/${srv}/oidc`;
    // The application's own requests (after discovery) go to process 2, as a load balancer may send them.
    const sentToTwo: string[] = [];
    const toTwo: oidc.CustomFetch = (url, options) => {
      const there = url.replace(one.url, two.url);
      sentToTwo.push(new URL(there).pathname.split('/').at(-1)!);
      return fetch(there, options as RequestInit);
    };
    const config = await oidc.discovery(new URL(issuer), made.body.clientId, made.body.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    config[oidc.customFetch] = toTwo;
    const { tokens } = await codeFlowInChromium({
      browser,
      config,
      redirectUri: `${rpUrl}/cb`,
      params: { scope: 'openid profile offline_access', prompt: 'consent' },
      signIn: (link) => phone.login(link),
    });
    assert.is(tokens.claims()?.sub, 'eve');
    assert.is((await oidc.fetchUserInfo(config, tokens.access_token, 'eve')).name, 'Eve');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    assert.is(refreshed.claims()?.sub, 'eve');
    assert.equal(sentToTwo, ['token', 'me', 'token'], 'token, userinfo and refresh went to process 2');
    // Both processes publish the same keys.
    const jwks = async (base: string) => ((await (await fetch(`${base}/servers/${srv}/oidc/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();
    assert.equal(await jwks(one.url), await jwks(two.url));
  });
}

test.run();
