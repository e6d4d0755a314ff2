/**
 * An event as the core writes it (with `tx.emit`, in the change it reports): a fresh id, the
 * time, the server, and who and where when they are known. Never a nonce, a key or a token:
 * a session is named by its subject, a one-way digest of its hsid.
 */
import { createHash, randomFillSync } from 'node:crypto';
import type { Json, NewEvent } from '../../ports.ts';
import { toB64url } from '../../wire/base64url.ts';
import type { EventType } from './event-types.ts';

export interface EventFields {
  userid?: string | undefined;
  account?: number | undefined;
  /** the client's address, passed by whoever knows it (not an AsyncLocalStorage: its promise hooks slow every promise of the process) */
  source?: string | undefined;
  subject?: string | undefined;
  data?: { [key: string]: Json } | undefined;
}

/** Random bytes for ids, drawn 16 at a time from a pool filled 256 ids at once (one call into the CSPRNG per 256 events, not per event). */
const ID_BYTES = 16;
const idPool = new Uint8Array(ID_BYTES * 256);
let idUsed = idPool.length;

/** A new event id: `evt_` and 16 random bytes (the CloudEvent id, the webhook-id). */
export function newEventId(): string {
  if (idUsed === idPool.length) {
    randomFillSync(idPool);
    idUsed = 0;
  }
  idUsed += ID_BYTES;
  return `evt_${toB64url(idPool.subarray(idUsed - ID_BYTES, idUsed))}`;
}

export function newEvent(type: EventType, serverid: string, fields: EventFields, time: number): NewEvent {
  const e: NewEvent = { id: newEventId(), type, serverid, time };
  if (fields.userid !== undefined) e.userid = fields.userid;
  if (fields.account !== undefined) e.account = fields.account;
  if (fields.source !== undefined) e.source = fields.source;
  if (fields.subject !== undefined) e.subject = fields.subject;
  if (fields.data !== undefined && Object.keys(fields.data).length > 0) e.data = fields.data;
  return e;
}

/** The subjects of the sessions with events lately (a login's scan and login are a moment apart), the oldest forgotten first. */
const subjects = new Map<string, string>();
const SUBJECTS_KEPT = 1024;

/** A session's subject: the same for each of its events, and no way back to its hsid. */
export function sessionSubject(hsid: string): string {
  let subject = subjects.get(hsid);
  if (subject === undefined) {
    subject = `session/${toB64url(createHash('sha256').update('nextauth event subject\0').update(hsid).digest().subarray(0, 16))}`;
    if (subjects.size >= SUBJECTS_KEPT) subjects.delete(subjects.keys().next().value!);
    subjects.set(hsid, subject);
  }
  return subject;
}
