/**
 * An application's login through a server's OpenID Provider, in real Chromium: openid-client
 * builds the authorization request (PKCE S256), the browser opens the provider's page, `signIn`
 * gets the login block's app link (the phone scans it, or answers a push), the consent page is
 * allowed, and the code coming back to `redirectUri` is exchanged for tokens.
 */
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';

export async function codeFlowInChromium(o: {
  browser: Browser;
  config: oidc.Configuration;
  redirectUri: string;
  /** more authorization parameters (scope, prompt, acr_values, login_hint…) */
  params?: Record<string, string>;
  signIn: (link: string) => Promise<unknown>;
}): Promise<{ tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>; link: string }> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(o.config, {
    redirect_uri: o.redirectUri,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...o.params,
  });
  const context = await o.browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(url.href);
    const block = page.locator('.nextauth-block');
    await block.waitFor();
    const link = (await block.getAttribute('data-link'))!;
    await o.signIn(link);
    await page.locator('button[value="allow"]').click({ timeout: 10_000 });
    await page.waitForURL(`${o.redirectUri}**`);
    const tokens = await oidc.authorizationCodeGrant(o.config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    return { tokens, link };
  } finally {
    await context.close();
  }
}
