// @ts-check
/**
 * A small site that logs its visitors in with their phone (nextAuth), on fastify:
 * logged out, the login block (QR code, app link, push button); logged in, "Hello <userid>" and
 * a logout button. The footer script, from the nextAuth server, updates the page by itself.
 *
 *   NEXTAUTH_URL=http://127.0.0.1:8080 NEXTAUTH_API_KEY=… NEXTAUTH_SERVER_ID=… node server.js
 */
import Fastify from 'fastify';
import { nextAuth } from '@nextauth/node/fastify';

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

const app = Fastify({ trustProxy: '127.0.0.1' }); // the visitor's address, through a proxy on this machine
// The logout form posts an empty urlencoded body: take it (and ignore it).
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
await app.register(nextAuth, { url: NEXTAUTH_URL, apiKey: NEXTAUTH_API_KEY, serverid: NEXTAUTH_SERVER_ID });

app.get('/', async (req, reply) => {
  const session = await req.nextauth.session();
  const body = session.loggedin
    ? `<p id="hello">Hello ${esc(session.userid ?? `account ${session.accountid}`)}</p>
<form method="post" action="/logout"><button type="submit">Log out</button></form>`
    : await req.nextauth.loginBlock();
  // The footer on every page: it reloads the page when the phone logs in or out.
  return reply
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(page(body, await req.nextauth.footer()));
});

app.post('/logout', async (req, reply) => {
  await req.nextauth.logout();
  return reply.redirect('/', 303);
});

console.log(`listening on ${await app.listen({ host: HOST, port: Number(PORT) })}`);
