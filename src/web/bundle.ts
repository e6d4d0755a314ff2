/**
 * Browser bundles of TypeScript, made with esbuild on first request and kept in memory:
 * - `phone-panel`: the demo's phone (src/web/phone-panel.ts, which runs src/sdk/app.ts);
 * - `sdk`: the app SDK alone, as the global `NextAuthSdk` (for anyone who wants to try it in a page).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { makeAsset, type Asset } from './assets.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

export const BUNDLES = {
  'phone-panel': { entry: path.join(here, 'phone-panel.ts') },
  sdk: { entry: path.join(here, '..', 'sdk', 'app.ts'), globalName: 'NextAuthSdk' },
} as const;

export type BundleName = keyof typeof BUNDLES;

const cache = new Map<BundleName, Promise<Asset>>();

async function make(name: BundleName): Promise<Asset> {
  const spec: { entry: string; globalName?: string } = BUNDLES[name];
  const result = await build({
    entryPoints: [spec.entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
    ...(spec.globalName ? { globalName: spec.globalName } : {}),
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild made no output for ${name}`);
  return makeAsset(Buffer.from(file.contents), 'text/javascript; charset=utf-8');
}

/** The bundle, built once (a failed build is tried again on the next call). */
export function bundle(name: BundleName): Promise<Asset> {
  let pending = cache.get(name);
  if (!pending) {
    pending = make(name);
    cache.set(name, pending);
    pending.catch(() => cache.delete(name));
  }
  return pending;
}
