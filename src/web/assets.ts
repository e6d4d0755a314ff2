/**
 * The files the NS serves to browsers itself (no CDN, so pages work with the network cut):
 * `/ns/nextauth.js` (the login block and footer client), `/ns/nextauth.css` (the blocks' looks)
 * and `/ns/socket.io.min.js` (socket.io's browser client, as the socket.io package ships it).
 *
 * Each is read once, kept in memory with a gzip copy, and named in HTML with `?v=<hash>` so a
 * browser may cache it for a day and still gets a new one after an upgrade.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../transports/http/context.ts';

export interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
  /** First 12 hex digits of its SHA-256. */
  version: string;
}

export function makeAsset(body: Buffer | string, type: string): Asset {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  return { body: bytes, gzip: gzipSync(bytes, { level: 9 }), type, version: createHash('sha256').update(bytes).digest('hex').slice(0, 12) };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const socketIoClient = path.join(path.dirname(require.resolve('socket.io/package.json')), 'client-dist', 'socket.io.min.js');

const files = {
  'nextauth.js': { file: path.join(here, 'nextauth.js'), type: 'text/javascript; charset=utf-8' },
  'nextauth.css': { file: path.join(here, 'nextauth.css'), type: 'text/css; charset=utf-8' },
  'socket.io.min.js': { file: socketIoClient, type: 'text/javascript; charset=utf-8' },
} as const;

export type AssetName = keyof typeof files;

let loaded: Record<AssetName, Asset> | undefined;

/** The assets, read on first use. */
export function assets(): Record<AssetName, Asset> {
  loaded ??= Object.fromEntries(Object.entries(files).map(([name, f]) => [name, makeAsset(readFileSync(f.file), f.type)])) as Record<AssetName, Asset>;
  return loaded;
}

/** The versioned URL of an asset under the NS's public URL. */
export const assetUrl = (publicUrl: string, name: AssetName): string => `${publicUrl}/ns/${name}?v=${assets()[name].version}`;

/** Sends an asset (gzip when the browser takes it); `immutable` when the URL names its version. */
export function sendAsset(req: FastifyRequest, reply: FastifyReply, asset: Asset, maxAge = 86400): FastifyReply {
  const query = req.query as { v?: string } | undefined;
  const versioned = query?.v === asset.version;
  const etag = `"${asset.version}"`;
  reply.header('content-type', asset.type);
  reply.header('cache-control', versioned ? `public, max-age=${maxAge}, immutable` : 'no-cache');
  reply.header('etag', etag);
  reply.header('vary', 'accept-encoding');
  reply.header('x-content-type-options', 'nosniff');
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    reply.header('content-encoding', 'gzip');
    return reply.send(asset.gzip);
  }
  return reply.send(asset.body);
}

/** GET /ns/nextauth.js, /ns/nextauth.css and /ns/socket.io.min.js: public, no key. */
export function assetRoutes(app: App): void {
  for (const name of Object.keys(files) as AssetName[]) {
    app.get(`/ns/${name}`, { config: { public: true } }, async (req, reply) => sendAsset(req, reply, assets()[name]));
  }
}
