/** The session a REST call names: the server (authorized) and the hsid of its X-nonce. */
import type { FastifyRequest } from 'fastify';
import { NsError } from '../../wire/errors.ts';
import { toB64url } from '../../wire/base64url.ts';
import { deriveHsid, isValidNonce } from '../../core/crypto/hsid.ts';
import type { Permission } from '../../core/admin/access.ts';
import type { ServerRecord } from '../../ports.ts';
import { authorizeServer, type ApiContext } from './context.ts';

export async function sessionOf(ctx: ApiContext, req: FastifyRequest, perms: readonly Permission[], serverid: string): Promise<{ server: ServerRecord; hsid: string }> {
  const server = await authorizeServer(ctx, req, perms, serverid);
  const nonce = req.headers['x-nonce'];
  if (!isValidNonce(nonce)) throw new NsError('BAD_NONCE');
  return { server, hsid: toB64url(deriveHsid(Buffer.from(server.sessionSecret, 'base64url'), nonce)) };
}
