/*
 * The footer script: `/ns/nextauth.js`, the IIFE (ES2017, no dependency) that getHtmlFooter's
 * HTML loads from the NS. It reads its `<script>` tag and runs startNextAuth (src/web/footer.ts):
 *
 *   <script src="https://ns.example/ns/nextauth.js?v=…" data-nextauth-footer
 *           data-ns="https://ns.example" data-sessions='[{"srv":…,"hsid":…,"bt":…,"loggedin":false}]'
 *           data-callback="myApp.onLogin" data-transport="text" defer></script>
 *
 * `data-ns` defaults to the script's own origin, `data-callback` names a global function called
 * instead of reloading the page, `data-transport="text"` keeps to the text socket.
 */
import { startNextAuth, type NextAuthSession } from './footer.ts';

const script = (document.currentScript as HTMLScriptElement | null) || document.querySelector<HTMLScriptElement>('script[data-nextauth-footer]');
const data: DOMStringMap = script?.dataset || {};
let listed: unknown;
try {
  listed = JSON.parse(data.sessions || '[]');
} catch {
  listed = [];
}
startNextAuth({
  ns: data.ns || (script?.src ? new URL(script.src, location.href).origin : location.origin),
  sessions: Array.isArray(listed) ? (listed as NextAuthSession[]) : [],
  ...(data.callback ? { callback: data.callback } : {}),
  ...(data.transport === 'text' ? { transport: 'text' as const } : {}),
  ...(script?.getAttribute('lang') ? { lang: script.getAttribute('lang')! } : {}),
});
