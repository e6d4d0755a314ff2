/**
 * `nextauth webhook …` and `nextauth events`: a server's webhooks and its audit trail
 * (docs/events.md), on the same two backends as the other admin commands (admin.ts). A secret is
 * printed by `webhook create` and `webhook rotate` only.
 */
import { isEventType } from '../core/events/event-types.ts';
import type { WebhookInput, WebhookView } from '../core/events/webhooks.ts';
import type { AuditQueryText } from '../transports/http/audit-query.ts';
import type { Backend, Command } from './admin.ts';
import { UsageError, accountIdArg, flagValue, serverIdArg } from './args.ts';
import { fields, table, time } from './output.ts';

/** A webhook id as a command argument (the server says whether it has it). */
function webhookIdArg(value: string): string {
  if (value.length < 1 || value.length > 64) throw new UsageError(`<webhookid>: "${value.slice(0, 40)}" is not a webhook id`);
  return value;
}

const PREFIX = 'com.nextauth.';

/** Event types, comma-separated, each in full or without `com.nextauth.`; UsageError naming `flag` for one that is not. */
function eventTypes(text: string, flag: string): string[] {
  return text.split(',').map((given) => {
    const t = given.trim();
    const type = t.startsWith(PREFIX) ? t : `${PREFIX}${t}`;
    if (!isEventType(type)) throw new UsageError(`${flag}: "${t.slice(0, 80)}" is not an event type (nextauth help webhook lists them)`);
    return type;
  });
}

/** --url, --types and --description, as given. */
function webhookFlags(flags: ReadonlyMap<string, string>): Partial<WebhookInput> {
  const input: Partial<WebhookInput> = {};
  const url = flagValue(flags, 'endpoint');
  const types = flagValue(flags, 'types');
  const description = flagValue(flags, 'description');
  if (url !== undefined) input.url = url;
  // "all": every type (an empty list)
  if (types !== undefined) input.types = types === 'all' ? [] : eventTypes(types, '--types');
  if (description !== undefined) input.description = description;
  return input;
}

const typesText = (types: readonly string[]) => (types.length === 0 ? 'all' : types.map((t) => t.slice(PREFIX.length)).join(','));

const webhookText = (w: WebhookView) =>
  fields([
    ['id', w.id],
    ['url', w.url],
    ['types', typesText(w.types)],
    ['description', w.description],
    ['created', time(w.created)],
    ['delivered', w.delivered],
    ['failed', w.failed],
    ['retrying', w.retrying ? `${w.retrying.event}: ${w.retrying.tries} tries since ${time(w.retrying.since)}, next ${time(w.retrying.next)}` : undefined],
    ['previous secret', w.previousSecretUntil ? `signs beside the new one until ${time(w.previousSecretUntil)}` : undefined],
  ]);

const SECRET = 'Signing secret (shown once, keep it safe):';

/** A command on one webhook: `<serverid> <webhookid>`, checked before any backend is opened. */
const onWebhook = (run: (b: Backend, serverid: string, id: string) => Promise<{ data: unknown; text: string }>): Command => ({
  args: ['<serverid>', '<webhookid>'],
  prepare([serverid, id]) {
    const sid = serverIdArg(serverid!);
    const wid = webhookIdArg(id!);
    return (b) => run(b, sid, wid);
  },
});

export const EVENT_COMMANDS: Record<string, Command> = {
  'webhook create': {
    args: ['<serverid>'],
    flags: ['endpoint', 'types', 'description'],
    prepare([serverid], flags) {
      const sid = serverIdArg(serverid!);
      const { url, ...rest } = webhookFlags(flags);
      if (url === undefined) throw new UsageError('webhook create: --endpoint is required (where the events are POSTed)');
      return async (b) => {
        const w = await b.createWebhook(sid, { url, ...rest });
        return { data: w, text: `Webhook created: ${w.id}\n${SECRET} ${w.secret}\n${webhookText(w)}` };
      };
    },
  },
  'webhook list': {
    args: ['<serverid>'],
    prepare([serverid]) {
      const sid = serverIdArg(serverid!);
      return async (b) => {
        const hooks = await b.listWebhooks(sid);
        return {
          data: hooks,
          text: table(
            ['ID', 'URL', 'TYPES', 'DELIVERED', 'FAILED', 'DESCRIPTION'],
            hooks.map((w) => [w.id, w.url, typesText(w.types), w.delivered, w.failed, w.description]),
          ),
        };
      };
    },
  },
  'webhook show': onWebhook(async (b, sid, wid) => {
    const w = await b.getWebhook(sid, wid);
    return { data: w, text: webhookText(w) };
  }),
  'webhook update': {
    args: ['<serverid>', '<webhookid>'],
    flags: ['endpoint', 'types', 'description'],
    prepare([serverid, id], flags) {
      const sid = serverIdArg(serverid!);
      const wid = webhookIdArg(id!);
      const input = webhookFlags(flags);
      if (Object.keys(input).length === 0) throw new UsageError('webhook update: give --endpoint, --types or --description');
      return async (b) => {
        const w = await b.updateWebhook(sid, wid, input);
        return { data: w, text: `Webhook ${w.id} changed.\n${webhookText(w)}` };
      };
    },
  },
  'webhook rotate': onWebhook(async (b, sid, wid) => {
    const r = await b.rotateWebhook(sid, wid);
    return { data: r, text: `${SECRET} ${r.secret}\nThe previous secret signs beside it until ${time(r.previousSecretUntil)}.\n` };
  }),
  'webhook delete': onWebhook(async (b, sid, wid) => {
    await b.deleteWebhook(sid, wid);
    return { data: { id: wid, deleted: true }, text: `Webhook ${wid} deleted.\n` };
  }),
  'webhook attempts': onWebhook(async (b, sid, wid) => {
    const attempts = await b.webhookAttempts(sid, wid);
    return {
      data: attempts,
      text: table(
        ['AT', 'EVENT', 'TYPE', 'STATUS', 'OUTCOME', 'MS', 'ERROR'],
        attempts.map((a) => [time(a.at), a.event, a.type, a.status || 'no answer', a.outcome, a.ms, a.error]),
      ),
    };
  }),
  events: {
    args: ['<serverid>'],
    flags: ['type', 'userid', 'account', 'from', 'to', 'before', 'limit'],
    prepare([serverid], flags) {
      const sid = serverIdArg(serverid!);
      const query: AuditQueryText = {};
      const type = flagValue(flags, 'type');
      if (type !== undefined) query.type = eventTypes(type, '--type');
      const account = flagValue(flags, 'account');
      if (account !== undefined) query.account = accountIdArg(account, '--account');
      const limit = flagValue(flags, 'limit');
      if (limit !== undefined) {
        if (!/^\d{1,3}$/.test(limit) || Number(limit) < 1 || Number(limit) > 500) throw new UsageError(`--limit: "${limit.slice(0, 20)}" is not 1 to 500`);
        query.limit = Number(limit);
      }
      for (const name of ['userid', 'from', 'to', 'before'] as const) {
        const v = flagValue(flags, name);
        if (v !== undefined) query[name] = v;
      }
      return async (b) => {
        const page = await b.listEvents(sid, query);
        const rows = table(
          ['TIME', 'TYPE', 'USERID', 'ACCOUNT', 'ADDRESS', 'SUBJECT'],
          page.items.map((e) => [e.time, e.type.slice(PREFIX.length), e.data.userid, e.data.account, e.data.address, e.subject]),
        );
        return { data: page, text: page.next ? `${rows}More: add --before ${page.next}\n` : rows };
      };
    },
  },
};
