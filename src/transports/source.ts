/**
 * A client's source address (PROTOCOL.md §7), for every transport (REST, both browser sockets,
 * the app channel): the TCP peer, or — when the peer is a trusted proxy
 * (`NEXTAUTH_TRUSTED_PROXIES`) — the right-most address of `X-Forwarded-For` that is not a
 * trusted proxy itself (what fastify's `trustProxy` and Express do, with the same library).
 * An `X-Forwarded-For` from anyone else is ignored.
 */
import type { IncomingMessage } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';

export type SourceOf = (req: IncomingMessage) => string;

export function sourceFinder(trustedProxies: readonly string[]): SourceOf {
  if (trustedProxies.length === 0) return (req) => req.socket.remoteAddress ?? 'unknown';
  const trust = proxyaddr.compile([...trustedProxies]);
  return (req) => proxyaddr(req, trust);
}
