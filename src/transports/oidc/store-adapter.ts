/**
 * oidc-provider's storage (its Adapter) over the Store port: each model's records of one server
 * are OIDC records `(serverid, model, id)`, with the fields the provider finds them by (uid,
 * user code, grant) and their account (to end a user's sessions and grants from outside a
 * request) beside the payload. Expired records read as gone; `pruneOidc` removes them.
 * Clients are records of model `Client` (oidc-clients.ts): read here, never written.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Json, OidcRecord, Store } from '../../ports.ts';

export class StoreAdapter implements Adapter {
  constructor(
    private readonly store: Store,
    private readonly serverid: string,
    private readonly model: string,
    private readonly now: () => number = Date.now,
  ) {}

  private live(r: OidcRecord | undefined): AdapterPayload | undefined {
    if (!r || (r.expiresAt !== undefined && r.expiresAt <= this.now())) return undefined;
    return structuredClone(r.payload) as AdapterPayload; // the provider changes what it reads; records are frozen
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    if (this.model === 'Client') throw new Error('Clients are registered through the NS, not by the provider');
    const record: OidcRecord = { payload: JSON.parse(JSON.stringify(payload)) as { [key: string]: Json } };
    if (expiresIn !== undefined) record.expiresAt = this.now() + expiresIn * 1000;
    if (payload.grantId !== undefined) record.grantId = payload.grantId;
    if (payload.uid !== undefined) record.uid = payload.uid;
    if (payload.userCode !== undefined) record.userCode = payload.userCode;
    if (payload.accountId !== undefined) record.accountId = payload.accountId;
    await this.store.transact((tx) => tx.put('oidc', [this.serverid, this.model, id], record));
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.live(await this.store.get('oidc', this.serverid, this.model, id));
  }

  private async findBy(field: 'uid' | 'userCode', value: string): Promise<AdapterPayload | undefined> {
    const [hit] = (await this.store.oidcBy(this.serverid, field, value)).filter((r) => r.model === this.model);
    return hit && this.live(hit.record);
  }

  findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.findBy('uid', uid);
  }

  findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.findBy('userCode', userCode);
  }

  async consume(id: string): Promise<void> {
    await this.store.transact(async (tx) => {
      const r = await tx.get('oidc', this.serverid, this.model, id);
      if (r) tx.patch('oidc', [this.serverid, this.model, id], { payload: { ...r.payload, consumed: Math.floor(this.now() / 1000) } });
    });
  }

  async destroy(id: string): Promise<void> {
    await this.store.transact(async (tx) => {
      if (await tx.get('oidc', this.serverid, this.model, id)) tx.delete('oidc', [this.serverid, this.model, id]);
    });
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const hits = (await this.store.oidcBy(this.serverid, 'grantId', grantId)).filter((r) => r.model === this.model);
    if (hits.length === 0) return;
    await this.store.transact((tx) => {
      for (const h of hits) tx.delete('oidc', [this.serverid, h.model, h.id]);
    });
  }
}
