/**
 * The pages of a server's OpenID Provider that a person sees (login, consent, logout, errors):
 * one plain document with the NS's own stylesheet, nothing loaded from elsewhere.
 */
import { assetUrl } from '../../web/assets.ts';
import { esc } from '../../web/blocks.ts';
import type { Lang } from '../../web/i18n.ts';

export function oidcPage(publicUrl: string, lang: Lang, title: string, body: string): string {
  const css = assetUrl(`${publicUrl}/ns`, 'nextauth.css');
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="${esc(css)}"></head><body><main style="max-width:28rem;margin:2rem auto;padding:0 1rem;font-family:system-ui,sans-serif">${body}</main></body></html>`;
}
