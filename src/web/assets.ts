/**
 * The files the NS serves to browsers itself (no CDN, so pages work with the network cut), as
 * `npm run build` (scripts/build.ts) left them in dist/web: each minified, with a gzip copy
 * (`<name>.gz`) and its version in dist/web/manifest.json. Nothing is built while the server
 * runs: they are read once, at start, and kept in memory.
 *
 * A file is served under its own name (`/ns/nextauth.js`, `/demo/phone.js`, `/inspect/inspect.js`)
 * and named in HTML with `?v=<version>`, so a browser may cache it for a day and still gets a new
 * one after an upgrade. The routes that serve them are in src/transports/http/ and src/inspect/.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every file of dist/web the server serves. */
export const WEB_FILES = [
  // the blocks (getHtmlLogin, getHtmlEnrol, getHtmlFooter): /ns/*
  'nextauth.js',
  'nextauth.css',
  'socket.io.min.js',
  // the demo: /demo/*
  'demo.css',
  'site.js',
  'phone.js',
  'sdk.js',
  // the live inspector: /inspect/*
  'inspect.css',
  'inspect.js',
  'mermaid.min.js',
] as const;

export type WebFile = (typeof WEB_FILES)[number];

export interface Asset {
  body: Buffer;
  gzip: Buffer;
  /** The Content-Type to send. */
  type: string;
  /** First 12 hex digits of its SHA-256. */
  version: string;
  /** The ETag to send (the version, quoted). */
  etag: string;
}

/** dist/web/manifest.json, written by scripts/build.ts. */
export interface WebManifest {
  /** When it was built (ISO 8601). */
  built: string;
  files: Record<string, { version: string; bytes: number }>;
  /** Every file the build read (path from the project folder) → its SHA-256: the staleness check. */
  inputs: Record<string, string>;
}

/** The project folder: the nearest one above this module with a package.json (from src/web/ or from dist/server/). */
export const PROJECT_DIR = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
/** Where `npm run build` puts the browser files. */
export const WEB_DIR = path.join(PROJECT_DIR, 'dist', 'web');
export const MANIFEST = 'manifest.json';

/** dist/web is missing, incomplete or unreadable. */
export class WebBuildError extends Error {
  override name = 'WebBuildError';
}

export const contentType = (name: string): string => (name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8');

/** Reads every file of WEB_FILES from `dir`; a WebBuildError naming `npm run build` when one is missing. */
export function loadWebAssets(dir: string = WEB_DIR): Record<WebFile, Asset> {
  let manifest: WebManifest;
  try {
    manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')) as WebManifest;
  } catch {
    throw new WebBuildError(`The browser files are not built (${path.join(dir, MANIFEST)} is missing or unreadable): run \`npm run build\` first.`);
  }
  const out = {} as Record<WebFile, Asset>;
  for (const name of WEB_FILES) {
    const entry = manifest.files?.[name];
    try {
      if (!entry) throw new Error('not in the manifest');
      out[name] = {
        body: readFileSync(path.join(dir, name)),
        gzip: readFileSync(path.join(dir, `${name}.gz`)),
        type: contentType(name),
        version: entry.version,
        etag: `"${entry.version}"`,
      };
    } catch {
      throw new WebBuildError(`The browser files in ${dir} lack ${name} (an older build?): run \`npm run build\` again.`);
    }
  }
  return out;
}

let loaded: Record<WebFile, Asset> | undefined;

/** The browser files of dist/web, read on the first call (the server makes it at start). */
export function webAssets(): Record<WebFile, Asset> {
  loaded ??= loadWebAssets();
  return loaded;
}

/** The versioned URL of a file: `${base}/${file}?v=<version>` (base: e.g. `https://ns.example/ns`). */
export const assetUrl = (base: string, name: WebFile): string => `${base}/${name}?v=${webAssets()[name].version}`;
