// @ts-check
/**
 * A small site that logs its visitors in with their phone (nextAuth), on Express:
 * logged out, the login block (QR code, app link, push button); logged in, "Hello <userid>" and
 * a logout button. The footer script, from the nextAuth server, updates the page by itself.
 *
 *   NEXTAUTH_URL=http://127.0.0.1:8080 NEXTAUTH_API_KEY=… NEXTAUTH_SERVER_ID=… node server.js
 */
import express from 'express';
import { nextAuth } from '@nextauth/node/express';

const { NEXTAUTH_URL = 'http://127.0.0.1:8080', NEXTAUTH_API_KEY, NEXTAUTH_SERVER_ID, HOST = '127.0.0.1', PORT = '3000' } = process.env;
if (!NEXTAUTH_API_KEY || !NEXTAUTH_SERVER_ID) {
  console.error('Set NEXTAUTH_API_KEY and NEXTAUTH_SERVER_ID (see README.md).');
  process.exit(1);
}

/** @param {unknown} text */
const esc = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** @param {string} body @param {string} footer */
const page = (body, footer) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Example site</title><link rel="icon" href="data:,"></head>
<body><main><h1>Example site</h1>
${body}
</main>
${footer}</body></html>`;

const app = express();
app.set('trust proxy', 'loopback'); // the visitor's address, through a proxy on this machine
app.use(nextAuth({ url: NEXTAUTH_URL, apiKey: NEXTAUTH_API_KEY, serverid: NEXTAUTH_SERVER_ID }));

app.get('/', async (req, res) => {
  const session = await req.nextauth.session();
  const body = session.loggedin
    ? `<p id="hello">Hello ${esc(session.userid ?? `account ${session.accountid}`)}</p>
<form method="post" action="/logout"><button type="submit">Log out</button></form>`
    : await req.nextauth.loginBlock();
  // The footer on every page: it reloads the page when the phone logs in or out.
  res
    .set('cache-control', 'no-store')
    .type('html')
    .send(page(body, await req.nextauth.footer()));
});

app.post('/logout', async (req, res) => {
  await req.nextauth.logout();
  res.redirect(303, '/');
});

const server = app.listen(Number(PORT), HOST, () => {
  const address = server.address();
  console.log(`listening on http://${HOST}:${typeof address === 'object' && address ? address.port : PORT}`);
});
