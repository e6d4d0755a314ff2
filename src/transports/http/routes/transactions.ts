/** 2.2 tag Transactions: createTransaction, getTransactionResult. */
import { Type } from '@sinclair/typebox';
import { authorizeServer, type ApiContext, type App } from '../context.ts';
import { NonceHeaders, ServerIdParams } from '../schemas.ts';
import { sessionOf } from '../session-of.ts';

const tags = ['Transactions'];
const field = (description: string) => Type.Optional(Type.String({ maxLength: 1024, description }));

export function transactionRoutes(app: App, ctx: ApiContext): void {
  app.post(
    '/servers/:serverid/sessions/transactions',
    {
      schema: {
        operationId: 'createTransaction',
        summary: 'Create a transaction to be approved within the current session',
        tags,
        params: ServerIdParams,
        headers: NonceHeaders,
        body: Type.Object(
          { amount: field('Amount, as shown'), benificiary: field('Beneficiary (2.2 spelling)'), description: field('What is approved') },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ tid: Type.String({ description: 'Base64url transaction id' }) }) },
      },
    },
    async (req) => {
      const { server, hsid } = await sessionOf(ctx, req, ['sessions'], req.params.serverid);
      return ctx.transactions.create(server.serverid, hsid, req.body, req.ip);
    },
  );

  app.get(
    '/servers/:serverid/transactions/:transactionid',
    {
      schema: {
        operationId: 'getTransactionResult',
        summary: 'Get transaction result for a given transaction',
        tags,
        params: Type.Object({ serverid: ServerIdParams.properties.serverid, transactionid: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: {
          200: Type.Object({
            tstatus: Type.String({ description: '0 = new, 1 = approved, 2 = declined (or expired)' }),
            state: Type.String({ description: 'addition: pending | presented | approved | declined | expired' }),
            account: Type.Integer({ description: 'addition: the account asked' }),
            tx: Type.String({ description: 'addition: the signed bytes (base64 msgpack)' }),
            signature: Type.Optional(Type.String({ description: 'addition: the account\'s Ed25519 signature (base64url) over "nextauth/transaction" || h2 || tx' })),
            sf: Type.Optional(Type.String({ description: 'addition: the second factor used' })),
            at: Type.Optional(Type.Integer({ description: 'addition: when it was approved (ms since epoch)' })),
          }),
        },
      },
    },
    async (req) => {
      await authorizeServer(ctx, req, ['sessions'], req.params.serverid);
      return ctx.transactions.result(req.params.serverid, req.params.transactionid);
    },
  );
}
