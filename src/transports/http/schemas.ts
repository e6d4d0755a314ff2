/**
 * TypeBox schemas of the REST API: the 2.2 definitions, our additions, and the common
 * parameters. They validate requests, shape responses (nothing outside a response schema is
 * ever sent) and feed /openapi.json.
 */
import { Type, type Static } from '@sinclair/typebox';

export const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });

const b64url = (bytes: number, description: string) => Type.String({ pattern: `^[A-Za-z0-9_-]{${Math.ceil((bytes * 4) / 3)}}$`, description });

export const ServerIdParams = Type.Object({ serverid: b64url(16, 'Base64url encoded server id (22 characters)') });
export const AccountIdParams = Type.Object({
  serverid: ServerIdParams.properties.serverid,
  accountid: Type.Integer({ minimum: 1, maximum: 2 ** 31, description: 'Account id' }),
});
export const UserIdParams = Type.Object({
  serverid: ServerIdParams.properties.serverid,
  userid: Type.String({ minLength: 1, maxLength: 1024, description: 'User name (1 to 256 UTF-16 units, checked by the handler)' }),
});
export const AttributeKeyParams = Type.Object({
  serverid: ServerIdParams.properties.serverid,
  attributekey: Type.String({ minLength: 1, maxLength: 256 }),
});
export const UserAttributeKeyParams = Type.Object({
  ...UserIdParams.properties,
  attributekey: Type.String({ minLength: 1, maxLength: 256 }),
});
export const GlobalAttributeKeyParams = Type.Object({ attributekey: Type.String({ minLength: 1, maxLength: 256 }) });
export const RoleParams = Type.Object({
  serverid: ServerIdParams.properties.serverid,
  roleid: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_=+/-]+$', description: 'Role id' }),
});

export const Limit = Type.Integer({ minimum: 0, maximum: 100000, description: 'Limit the number of results' });
export const Marker = Type.Integer({ minimum: 0, description: 'Offset in the result list' });
export const Sort = Type.String({ maxLength: 256, description: 'column[:asc|desc],…' });
export const Filter = Type.String({ maxLength: 1024, description: 'name=value or name=in:v1,v2; several joined by ;' });

export const PageQuery = Type.Object({ limit: Type.Optional(Limit), marker: Type.Optional(Marker) });
export const AccountListQuery = Type.Object({
  filter: Type.Optional(Filter),
  limit: Type.Optional(Limit),
  marker: Type.Optional(Marker),
  sort: Type.Optional(Sort),
});
export const UserListQuery = Type.Object({ ...AccountListQuery.properties, search: Type.Optional(Type.String({ maxLength: 256 })) });

/** An object of attributes (checked further by the registry). */
export const AttributesBody = Type.Record(Type.String(), Type.Unknown(), { description: 'Attributes (a JSON object)' });

export const Account = Type.Object({
  id: Type.Integer(),
  description: Type.String(),
  userid: Type.Optional(Type.String()),
  blocked: Type.Boolean(),
  clientVersion: Type.Optional(Type.String()),
  created: Type.Integer(),
  lastlogin: Type.Optional(Type.Integer()),
  lastprovoke: Type.Optional(Type.Integer()),
});
export const Accounts = Type.Object({ accounts: Type.Array(Account), totalnumber: Type.Integer() });

export const User = Type.Object({ userid: Type.String(), lastlogin: Type.Optional(Type.Integer()), numberaccounts: Type.Integer() });
export const Users = Type.Object({ users: Type.Array(User), totalnumber: Type.Integer() });

const url = (description: string) => Type.String({ maxLength: 2048, description });
/** The fields a caller sets on a server (the rest are made by the NS). */
export const ServerInput = Type.Object(
  {
    serverName: Type.Optional(Type.String({ maxLength: 256, description: 'Server name' })),
    logo: Type.Optional(Type.String({ maxLength: 512 * 1024, description: 'Base 64 encoded logo' })),
    appname: Type.Optional(Type.String({ maxLength: 256 })),
    appurl: Type.Optional(url('URL (prefix) to launch the app')),
    appandroid: Type.Optional(url('URL of the app in Google Play')),
    appios: Type.Optional(url('URL of the app in the App Store')),
    siteurl: Type.Optional(url('URL of the main website')),
    wsurl: Type.Optional(url('Websocket URL')),
    owner: Type.Optional(Type.Integer()),
    pinTimeout: Type.Optional(Type.Integer({ minimum: -1, maximum: 525600 })),
    pinTransTimeout: Type.Optional(Type.Integer({ minimum: -1, maximum: 525600 })),
    pingTime: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 })),
    serverFlags: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
    // Made by the NS: accepted and ignored, as 2.2 says.
    serverid: Type.Optional(Type.String()),
    serverpk: Type.Optional(Type.String()),
    validtime: Type.Optional(Type.Unknown()),
    accountCount: Type.Optional(Type.Unknown()),
    lastLogin: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
export type ServerInputBody = Static<typeof ServerInput>;

export const Server = Type.Object({
  serverid: Type.String(),
  serverpk: Type.String(),
  serverName: Type.String(),
  logo: Type.String(),
  appname: Type.Optional(Type.String()),
  appurl: Type.Optional(Type.String()),
  appandroid: Type.Optional(Type.String()),
  appios: Type.Optional(Type.String()),
  siteurl: Type.Optional(Type.String()),
  wsurl: Type.Optional(Type.String()),
  owner: Type.Optional(Type.Integer()),
  pinTimeout: Type.Integer(),
  pinTransTimeout: Type.Integer(),
  pingTime: Type.Integer(),
  serverFlags: Type.Array(Type.String()),
  accountCount: Type.Integer(),
  lastLogin: Type.Optional(Type.Integer()),
});
export const Servers = Type.Object({ servers: Type.Array(Server), totalnumber: Type.Integer() });

export const ApiKey = Type.Object({
  apikey: Type.String({ description: 'The key (in full only when it is made; a hint afterwards)' }),
  role: Type.String(),
  description: Type.String(),
});
export const ApiKeys = Type.Object({ apikeys: Type.Array(ApiKey) });
export const Permission = Type.Object({ acl: Type.String(), role: Type.String(), server: Type.String() });
export const Permissions = Type.Object({ permissions: Type.Array(Permission) });
export const Role = Type.Object({ role: Type.String() });

export const SessionInfo = Type.Object({
  info: Type.Optional(Type.Unknown()),
  ip: Type.Optional(Type.String({ maxLength: 64 })),
  logo: Type.Optional(Type.String({ maxLength: 512 * 1024 })),
  useragent: Type.Optional(Type.String({ maxLength: 1024 })),
});
export const UserContext = Type.Object({ announceinfo: Type.Optional(SessionInfo), sessioninfo: Type.Optional(SessionInfo) });
export type UserContextBody = Static<typeof UserContext>;

export const LoginStatus = Type.Object({
  loggedin: Type.Boolean(),
  accountid: Type.Optional(Type.Integer()),
  userid: Type.Optional(Type.String()),
  pk: Type.Optional(Type.String({ description: 'Base64 encoded public key of the account' })),
  hsid: Type.String(),
  loginqrdata: Type.String(),
  canprovoke: Type.Boolean(),
  state: Type.String({ description: 'addition: waiting | challenged | verifying | authenticated | loggedOut' }),
  userinput: Type.Optional(Type.String({ description: 'addition: what the user typed in the app' })),
  expires: Type.Optional(Type.Integer({ description: 'addition: when the current state ends (ms since epoch)' })),
  browsertoken: Type.String({ description: "addition: the session's browser token, which a browser shows to PROVOKE or LOGOUT (PROTOCOL.md §5.1)" }),
});

export const NonceHeaders = Type.Object({ 'x-nonce': Type.String({ description: 'Nonce that identifies the browser session' }) });

export const ok = Type.Null({ description: 'OK (empty body)' });

/**
 * Answers that are not JSON, in fastify's per-media-type form (`content`), which /openapi.json
 * copies as it is. Fastify sends their bodies (a Buffer or a string) untouched: no schema
 * serializes them.
 */
const file = (mediaType: string, description: string) => ({
  // Typed as what the handler sends (bytes or text), documented as the file it is.
  schema: Type.Unsafe<Uint8Array | string>({ type: 'string', contentMediaType: mediaType, description }),
});

/** getQrLogin, getQrEnrol: the raw QR bytes, or with `img` a picture of them (images.ts sendQr). */
export const QrReply = {
  description: 'The QR code: its raw bytes without img, a PNG with img=png, an SVG with img=svg',
  content: {
    'application/octet-stream': file('application/octet-stream', 'The bytes the QR code holds (PROTOCOL.md §3)'),
    'image/png': file('image/png', 'PNG picture of the QR code, s pixels wide'),
    'image/svg+xml': file('image/svg+xml', 'SVG picture of the QR code, s pixels wide'),
  },
};

/** getServerVash: the visual hash, a PNG (images.ts vashPng). */
export const VashReply = { description: 'The visual hash: a 256×256 PNG', content: { 'image/png': file('image/png', 'PNG picture') } };

/** getHtmlLogin, getHtmlEnrol, getHtmlFooter. */
export const HtmlReply = { description: 'Generated HTML', content: { 'text/html': file('text/html', 'HTML to put in the page') } };
