/**
 * A stored event as a CloudEvent 1.0 in structured JSON mode (what webhooks receive and the
 * audit trail answers). The server, user, account and client address are in `data`, beside what
 * the event adds; `source` names the virtual server.
 */
import type { EventRecord, Json } from '../../ports.ts';

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: { serverid: string; userid?: string; account?: number; address?: string; [key: string]: Json | undefined };
}

/** `base`: the NS's public URL (no trailing slash). */
export function toCloudEvent(e: EventRecord, base: string): CloudEvent {
  return {
    specversion: '1.0',
    id: e.id,
    source: `${base}/servers/${e.serverid}`,
    type: e.type,
    ...(e.subject !== undefined ? { subject: e.subject } : {}),
    time: new Date(e.time).toISOString(),
    datacontenttype: 'application/json',
    data: {
      ...e.data,
      serverid: e.serverid,
      ...(e.userid !== undefined ? { userid: e.userid } : {}),
      ...(e.account !== undefined ? { account: e.account } : {}),
      ...(e.source !== undefined ? { address: e.source } : {}),
    },
  };
}
