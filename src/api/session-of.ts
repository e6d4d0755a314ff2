/** The session a REST call names: the server (authorized) and the hsid of its X-nonce. */
import type { FastifyRequest } from 'fastify';
import { NsError } from '../errors.ts';
import { toB64url } from '../crypto/encoding.ts';
import { deriveHsid, isValidNonce } from '../crypto/hsid.ts';
import type { Permission } from '../registry/access.ts';
import type { ServerRecord } from '../store/data.ts';
import { authorizeServer, type ApiContext } from './context.ts';

export function sessionOf(ctx: ApiContext, req: FastifyRequest, perms: readonly Permission[], serverid: string): { server: ServerRecord; hsid: string } {
  const server = authorizeServer(ctx, req, perms, serverid);
  const nonce = req.headers['x-nonce'];
  if (!isValidNonce(nonce)) throw new NsError('BAD_NONCE');
  return { server, hsid: toB64url(deriveHsid(Buffer.from(server.sessionSecret, 'base64url'), nonce)) };
}
