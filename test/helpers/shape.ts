/**
 * Checks a value against a 2.2 definition (spec/nextauth-api-2.2.yaml `definitions`, plus the
 * additions of PROTOCOL.md §6): required fields present, each field of the right type, no field
 * the definition does not name.
 *
 *   assertShape(reply.body, 'Servers');
 *   assertShape(reply.body, 'ApiKey', { require: ['apikey', 'role', 'description'] });
 *
 * A field type is 'string' | 'integer' | 'boolean' | 'object' (any JSON object) | the name of
 * another definition | [one of those] for an array of it.
 */
export type DefinitionName =
  | 'Account'
  | 'Accounts'
  | 'ApiKey'
  | 'ApiKeys'
  | 'LoginStatus'
  | 'Permission'
  | 'Permissions'
  | 'Role'
  | 'Server'
  | 'Servers'
  | 'SessionInfo'
  | 'User'
  | 'Users'
  | 'UserContext';
type Scalar = 'string' | 'integer' | 'boolean' | 'object' | DefinitionName;
type FieldType = Scalar | readonly [Scalar];
interface Definition {
  required: readonly string[];
  properties: Record<string, FieldType>;
}

export const definitions: Record<DefinitionName, Definition> = {
  Account: {
    required: ['description', 'id'],
    properties: {
      blocked: 'boolean',
      clientVersion: 'string',
      created: 'integer',
      description: 'string',
      id: 'integer',
      lastlogin: 'integer',
      lastprovoke: 'integer',
      userid: 'string',
    },
  },
  Accounts: { required: ['accounts'], properties: { accounts: ['Account'], totalnumber: 'integer' } },
  ApiKey: { required: [], properties: { apikey: 'string', description: 'string', role: 'string' } },
  ApiKeys: { required: ['apikeys'], properties: { apikeys: ['ApiKey'] } },
  LoginStatus: {
    required: [],
    properties: {
      accountid: 'integer',
      canprovoke: 'boolean',
      hsid: 'string',
      loggedin: 'boolean',
      loginqrdata: 'string',
      pk: 'string',
      userid: 'string',
      // additions (PROTOCOL.md §6)
      state: 'string',
      userinput: 'string',
      expires: 'integer',
      browsertoken: 'string',
    },
  },
  Permission: { required: [], properties: { acl: 'string', role: 'string', server: 'string' } },
  Permissions: { required: ['permissions'], properties: { permissions: ['Permission'] } },
  Role: { required: [], properties: { role: 'string' } },
  Server: {
    required: ['logo', 'pinTimeout', 'pinTransTimeout', 'pingTime', 'serverFlags', 'serverName', 'serverid', 'serverpk'],
    properties: {
      accountCount: 'integer',
      appandroid: 'string',
      appios: 'string',
      appname: 'string',
      appurl: 'string',
      lastLogin: 'integer',
      logo: 'string',
      owner: 'integer',
      pinTimeout: 'integer',
      pinTransTimeout: 'integer',
      pingTime: 'integer',
      serverFlags: ['string'],
      serverName: 'string',
      serverid: 'string',
      serverpk: 'string',
      siteurl: 'string',
      wsurl: 'string',
    },
  },
  Servers: { required: ['servers'], properties: { servers: ['Server'], totalnumber: 'integer' } },
  SessionInfo: { required: [], properties: { info: 'object', ip: 'string', logo: 'string', useragent: 'string' } },
  User: { required: ['userid'], properties: { lastlogin: 'integer', numberaccounts: 'integer', userid: 'string' } },
  Users: { required: ['users'], properties: { totalnumber: 'integer', users: ['User'] } },
  UserContext: { required: [], properties: { announceinfo: 'SessionInfo', sessioninfo: 'SessionInfo' } },
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every way `value` departs from the definition, as `path: problem` lines (empty when it fits). */
export function shapeProblems(value: unknown, type: FieldType, path = '$', extraRequired: readonly string[] = []): string[] {
  if (typeof type !== 'string') {
    if (!Array.isArray(value)) return [`${path}: expected an array`];
    return value.flatMap((item, i) => shapeProblems(item, type[0], `${path}[${i}]`));
  }
  switch (type) {
    case 'string':
      return typeof value === 'string' ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`];
    case 'integer':
      return Number.isInteger(value) ? [] : [`${path}: expected an integer, got ${JSON.stringify(value)}`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: expected a boolean, got ${JSON.stringify(value)}`];
    case 'object':
      return isObject(value) ? [] : [`${path}: expected an object`];
  }
  const def = definitions[type];
  if (!isObject(value)) return [`${path}: expected a ${type} object`];
  const problems: string[] = [];
  for (const key of [...def.required, ...extraRequired]) if (!(key in value)) problems.push(`${path}.${key}: missing (required in ${type})`);
  for (const [key, v] of Object.entries(value)) {
    const fieldType = def.properties[key];
    if (fieldType === undefined) problems.push(`${path}.${key}: not a field of ${type}`);
    else problems.push(...shapeProblems(v, fieldType, `${path}.${key}`));
  }
  return problems;
}

/** Throws (with every problem listed) unless `value` fits the definition; `require` adds required fields. */
export function assertShape(value: unknown, name: DefinitionName, opts: { require?: readonly string[] } = {}): void {
  const problems = shapeProblems(value, name, '$', opts.require);
  if (problems.length) throw new Error(`not a 2.2 ${name}:\n  ${problems.join('\n  ')}\nvalue: ${JSON.stringify(value).slice(0, 500)}`);
}
