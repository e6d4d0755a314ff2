/**
 * Sends one of the browser files of dist/web (src/web/assets.ts): gzip when the browser takes it,
 * 304 for a matching ETag, cached for a day (`immutable`) when the URL names its version.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Asset } from '../../web/assets.ts';

export function sendAsset(req: FastifyRequest, reply: FastifyReply, asset: Asset, maxAge = 86400): FastifyReply {
  const query = req.query as { v?: string } | undefined;
  const versioned = query?.v === asset.version;
  reply.header('content-type', asset.type);
  reply.header('cache-control', versioned ? `public, max-age=${maxAge}, immutable` : 'no-cache');
  reply.header('etag', asset.etag);
  reply.header('vary', 'accept-encoding');
  reply.header('x-content-type-options', 'nosniff');
  if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    reply.header('content-encoding', 'gzip');
    return reply.send(asset.gzip);
  }
  return reply.send(asset.body);
}
