/**
 * The HTML the NS hands a relying party (2.2 tag HTML): the login block, the enrol block and the
 * footer. Each block is one `<div class="nextauth-block">` a site can restyle; it works with
 * scripts off (the QR code and the app link are plain markup) and comes alive with the footer
 * script (`/ns/nextauth.js`), which watches the sessions and updates the blocks.
 *
 * Pure functions: the routes (src/transports/http/routes/html.ts) gather the data, these write the markup.
 */
import type { ServerRecord } from '../ports.ts';
import type { SessionState } from '../../machines/session.ts';
import { assetUrl } from './assets.ts';
import { MESSAGES, type Lang, type Messages } from './i18n.ts';
import { qrImage } from './qr-image.ts';

/** Escapes text for HTML content and double-quoted attributes. */
export const esc = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** What the blocks show of a server. */
export interface BlockServer {
  serverid: string;
  serverName: string;
  /** The app's name ("nextAuth" when the server names none). */
  appname: string;
  logo: string;
  appandroid?: string;
  appios?: string;
}

export const blockServer = (server: ServerRecord): BlockServer => ({
  serverid: server.serverid,
  serverName: server.serverName,
  appname: server.appname || 'nextAuth',
  logo: server.logo,
  ...(server.appandroid ? { appandroid: server.appandroid } : {}),
  ...(server.appios ? { appios: server.appios } : {}),
});

/** One session as a block sees it. */
export interface BlockSession {
  hsid: string;
  /** The session's browser token (PROTOCOL.md §5.1): the page's scripts show it to provoke or log out. */
  bt: string;
  state: SessionState;
  canprovoke: boolean;
  /** When the code goes stale (ms since epoch), if it does. */
  expires?: number;
}

export interface CodeBlockInput {
  /** The NS's public URL (scripts, styles and sockets live there). */
  publicUrl: string;
  server: BlockServer;
  session: BlockSession;
  /** The raw QR bytes (PROTOCOL.md §3). */
  qr: Uint8Array;
  /** The app link of the same bytes. */
  link: string;
  /** Render for a phone's browser: the app link first, the QR code on request. */
  mobile: boolean;
  /** The language of the block's words (i18n.ts). */
  lang: Lang;
  now: number;
}

/** A user agent that is a phone's or a tablet's browser. */
export const isMobileAgent = (ua: string | undefined): boolean => !!ua && /Android|iPhone|iPad|iPod|Mobile|Windows Phone/i.test(ua);

/** A data: URL for a 2.2 base64 logo whose bytes are a PNG, JPEG, GIF, WebP or SVG image; else undefined. */
export function logoDataUrl(logo: string): string | undefined {
  const b64 = logo.trim();
  if (!b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const types: Array<[string, string]> = [
    ['iVBORw0KGgo', 'image/png'],
    ['/9j/', 'image/jpeg'],
    ['R0lGOD', 'image/gif'],
    ['UklGR', 'image/webp'],
    ['PHN2Zy', 'image/svg+xml'],
    ['PD94bWw', 'image/svg+xml'],
  ];
  const type = types.find(([prefix]) => b64.startsWith(prefix))?.[1];
  return type ? `data:${type};base64,${b64}` : undefined;
}

/** The QR code as an inline SVG image with a text alternative (`labelId` names its title). */
async function qrSvg(bytes: Uint8Array, label: string, labelId: string): Promise<string> {
  const { body } = await qrImage(bytes, 'svg', 256);
  const svg = String(body).trim();
  const open = svg.indexOf('>');
  const tag = svg
    .slice(0, open)
    .replace(/\s(width|height)="[^"]*"/g, '')
    .replace('<svg', `<svg class="nextauth-qrcode" role="img" aria-labelledby="${labelId}" focusable="false"`);
  return `${tag}><title id="${labelId}">${esc(label)}</title>${svg.slice(open + 1)}`;
}

const stylesheet = (publicUrl: string) => `<link rel="stylesheet" href="${esc(assetUrl(`${publicUrl}/ns`, 'nextauth.css'))}">`;

/** The progress words of a state, as the footer script would write them. */
function statusText(t: Messages, state: SessionState, kind: 'login' | 'enrol'): string {
  switch (state) {
    case 'challenged':
    case 'verifying':
      return t.scanned;
    case 'authenticated':
      return kind === 'enrol' ? t.enrolled : t.loggedIn;
    default:
      return '';
  }
}

/** The state a block shows (the footer script keeps it current): waiting, scanned, loggedin. */
const blockState = (state: SessionState): string => (state === 'authenticated' ? 'loggedin' : state === 'challenged' || state === 'verifying' ? 'scanned' : 'waiting');

const minutes = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

function appStores(t: Messages, server: BlockServer): string {
  const links = [
    server.appandroid ? `<a href="${esc(server.appandroid)}" rel="noopener">Android</a>` : '',
    server.appios ? `<a href="${esc(server.appios)}" rel="noopener">iPhone</a>` : '',
  ].filter(Boolean);
  return links.length ? ` ${t.getApp(links)}` : '';
}

/** The parts every code block has: head, QR figure, app link, "can't scan" help, status, countdown. */
async function codeBlock(
  input: CodeBlockInput,
  kind: 'login' | 'enrol',
  texts: { title: string; qrLabel: string; help: string; phoneHelp: string; linkText: string },
  extra: string,
): Promise<string> {
  const { server, session, publicUrl, now } = input;
  const t = MESSAGES[input.lang];
  const id = `nextauth-${kind}-${session.hsid.slice(0, 10).replace(/[^A-Za-z0-9]/g, 'x')}`;
  const logo = logoDataUrl(server.logo);
  const state = blockState(session.state);
  const loggedIn = session.state === 'authenticated';
  const attrs = [
    `class="nextauth-block nextauth-${kind}${input.mobile ? ' nextauth-mobile' : ''}"`,
    `id="${id}"`,
    `lang="${input.lang}"`,
    `data-nextauth="${kind}"`,
    `data-srv="${esc(server.serverid)}"`,
    `data-hsid="${esc(session.hsid)}"`,
    `data-bt="${esc(session.bt)}"`,
    `data-state="${state}"`,
    `data-canprovoke="${session.canprovoke}"`,
    `data-link="${esc(input.link)}"`,
    `data-name="${esc(server.serverName)}"`,
    `data-appname="${esc(server.appname)}"`,
    `data-now="${now}"`,
    ...(session.expires !== undefined && !loggedIn ? [`data-expires="${session.expires}"`] : []),
  ].join(' ');
  const countdown =
    session.expires !== undefined && !loggedIn
      ? `<p class="nextauth-countdown">${t.codeValid(`<span class="nextauth-time">${minutes(session.expires - now)}</span>`)}<span class="nextauth-bar" aria-hidden="true"><span></span></span></p>`
      : '';
  return [
    `<div ${attrs}>`,
    stylesheet(publicUrl),
    `<div class="nextauth-head">${logo ? `<img class="nextauth-logo" src="${logo}" alt="">` : ''}<h2 class="nextauth-title">${esc(texts.title)}</h2></div>`,
    `<div class="nextauth-body"${loggedIn ? ' hidden' : ''}>`,
    `<figure class="nextauth-qr">${await qrSvg(input.qr, texts.qrLabel, `${id}-qrlabel`)}</figure>`,
    `<p class="nextauth-help"><span class="nextauth-for-desktop">${texts.help}</span><span class="nextauth-for-phone">${texts.phoneHelp}</span></p>`,
    `<a class="nextauth-button nextauth-applink" href="${esc(input.link)}">${esc(texts.linkText)}</a>`,
    `<button type="button" class="nextauth-linkbutton nextauth-showqr">${esc(t.showQr)}</button>`,
    extra,
    `<details class="nextauth-more"><summary>${esc(t.cantScan)}</summary>`,
    `<p>${t.cantScanHelp(esc(server.appname), `<a href="${esc(input.link)}">${esc(t.openLink)}</a>`)}</p>`,
    `<input class="nextauth-linktext" type="text" readonly value="${esc(input.link)}" aria-label="${esc(t.appLink)}" spellcheck="false"></details>`,
    countdown,
    `</div>`,
    `<p class="nextauth-status" role="status" aria-live="polite">${esc(statusText(t, session.state, kind))}</p>`,
    kind === 'login' ? `<button type="button" class="nextauth-button nextauth-logout"${loggedIn ? '' : ' hidden'}>${esc(t.logout)}</button>` : '',
    `<button type="button" class="nextauth-button nextauth-refresh" hidden>${esc(t.newCode)}</button>`,
    `</div>`,
  ].join('\n');
}

/** getHtmlLogin: the QR code, the push button (when canprovoke), the app link, progress, countdown. */
export function loginBlock(input: CodeBlockInput): Promise<string> {
  const { server, session } = input;
  const t = MESSAGES[input.lang];
  const app = `<strong>${esc(server.appname)}</strong>`;
  const push = `<button type="button" class="nextauth-button nextauth-push"${session.canprovoke ? '' : ' hidden'}>${esc(t.push)}</button>`;
  return codeBlock(
    input,
    'login',
    {
      title: session.state === 'authenticated' ? t.loggedInTitle(server.serverName) : t.loginTitle(server.serverName),
      qrLabel: t.loginQrLabel(server.appname, server.serverName),
      help: t.loginHelp(app),
      phoneHelp: t.loginPhoneHelp(app),
      linkText: t.loginLink(server.appname),
    },
    push,
  );
}

/** getHtmlEnrol: the enrol QR code (with the name and userid in it), the app link, progress. */
export function enrolBlock(input: CodeBlockInput): Promise<string> {
  const { server } = input;
  const t = MESSAGES[input.lang];
  const app = `<strong>${esc(server.appname)}</strong>`;
  return codeBlock(
    input,
    'enrol',
    {
      title: t.enrolTitle(server.serverName),
      qrLabel: t.enrolQrLabel(server.appname, server.serverName),
      help: t.enrolHelp(app) + appStores(t, server),
      phoneHelp: t.enrolPhoneHelp(app) + appStores(t, server),
      linkText: t.enrolLink(server.appname),
    },
    '',
  );
}

/** A session the footer watches, with the login state the page was made with. */
export interface FooterSession {
  srv: string;
  hsid: string;
  /** The session's browser token. */
  bt: string;
  loggedin: boolean;
}

/**
 * getHtmlFooter: the script that watches the sessions. The page reloads when one of them logs in
 * or out, unless `callback` names a function (window.<callback>(detail)) to call instead. Its
 * `lang` is the language of the words it writes in a block that does not name its own.
 */
export function footer(publicUrl: string, sessions: FooterSession[], lang: Lang, callback?: string): string {
  const attrs = [
    `src="${esc(assetUrl(`${publicUrl}/ns`, 'nextauth.js'))}"`,
    `data-nextauth-footer`,
    `data-ns="${esc(publicUrl)}"`,
    `data-sessions="${esc(JSON.stringify(sessions))}"`,
    `lang="${lang}"`,
    ...(callback ? [`data-callback="${esc(callback)}"`] : []),
    'defer',
  ];
  return `<script ${attrs.join(' ')}></script>\n`;
}
