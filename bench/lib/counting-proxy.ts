/**
 * A TCP proxy that counts what clients ask of a server, for the cluster bench (bench/run.ts
 * --cluster): the NS talks to PostgreSQL and Redis through one each, so the requests of that NS
 * alone are counted (the services are shared with other work), exactly, from the bytes on the
 * wire rather than estimated.
 *
 * - PostgreSQL (frontend protocol v3): each message is a type byte and a 32-bit length (after
 *   the untyped startup message). A round trip ends with a Sync `S` (extended protocol: Parse,
 *   Bind, Describe, Execute, Sync) or is one simple Query `Q`; node-postgres waits for
 *   ReadyForQuery before its next query on a connection, so `S` + `Q` are its round trips. The
 *   first word of each statement (Parse, Query) is counted too (BEGIN, SELECT, INSERT…), and the
 *   statement itself (its first 120 characters, spaces collapsed).
 * - Redis (RESP): each command is an array of bulk strings; commands are counted by name
 *   (EVALSHA by the script, when its SHA is known). ioredis sends the commands of one tick as one
 *   write (auto-pipelining): the chunks read from the client are counted as `writes`, which is
 *   the number of batches as long as the proxy keeps up (two writes read as one chunk count once).
 *
 * Bytes each way are counted too. The proxy runs in the bench driver's process.
 */
import net from 'node:net';

/** What the proxy learns from one direction of one connection: client → server bytes. */
export interface StreamCounter {
  feed(chunk: Buffer): void;
}

export interface ProxyCounts {
  connections: number;
  /** client → server and server → client bytes */
  bytesIn: number;
  bytesOut: number;
  /** chunks read from clients (see the module comment) */
  writes: number;
  /** requests by kind (PostgreSQL: message types, `sql:<first word>`, `statement:<text>`; Redis: command names) */
  byKind: Record<string, number>;
}

export class CountingProxy {
  readonly counts: ProxyCounts = { connections: 0, bytesIn: 0, bytesOut: 0, writes: 0, byKind: {} };
  readonly #sockets = new Set<net.Socket>();
  /** The local ports of the proxy's open connections to the server (how the server lists them). */
  readonly upstreamPorts = new Set<number>();

  private constructor(
    readonly server: net.Server,
    readonly port: number,
  ) {}

  /**
   * Listens on 127.0.0.1 (a port of its own) and forwards each connection to `target`;
   * `counter(counts)` makes the parser of one connection's client bytes, which adds to `counts.byKind`.
   */
  static async start(target: { host: string; port: number }, counter: (byKind: Record<string, number>) => StreamCounter): Promise<CountingProxy> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new CountingProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.#pipe(client, target, counter(proxy.counts.byKind)));
    return proxy;
  }

  /** A copy of the counts now. */
  snapshot(): ProxyCounts {
    return { ...this.counts, byKind: { ...this.counts.byKind } };
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #pipe(client: net.Socket, target: { host: string; port: number }, counter: StreamCounter): void {
    const upstream = net.connect({ ...target, noDelay: true });
    this.counts.connections++;
    upstream.once('connect', () => {
      const port = upstream.localPort!;
      this.upstreamPorts.add(port);
      upstream.once('close', () => this.upstreamPorts.delete(port));
    });
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('close', () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
      s.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => {
      this.counts.bytesIn += chunk.length;
      this.counts.writes++;
      counter.feed(chunk);
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (chunk: Buffer) => {
      this.counts.bytesOut += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
  }
}

/** Untyped startup-phase request codes (SSLRequest, GSSENCRequest, CancelRequest): more untyped messages may follow. */
const PG_STARTUP_CODES = new Set([80877103, 80877104, 80877102]);

/**
 * Counts PostgreSQL frontend messages by type letter (`S`, `Q`, `P`, `B`, `E`…), `roundTrips`
 * (`S` + `Q`), the first word of each statement as `sql:<WORD>` and the statement as
 * `statement:<its first 120 characters, spaces collapsed>`.
 */
export function pgFrontendCounter(byKind: Record<string, number>): StreamCounter {
  let buffered: Buffer = Buffer.alloc(0);
  let startup = true;
  const add = (kind: string) => (byKind[kind] = (byKind[kind] ?? 0) + 1);
  /** The statement in `buffered` from `from` (a C string) to at most `end`. */
  const statement = (from: number, end: number) => {
    const nul = buffered.indexOf(0, from);
    const sql = buffered.toString('utf8', from, Math.min(nul < 0 ? end : nul, end, from + 400));
    add(`sql:${(/^\s*([A-Za-z]+)/.exec(sql)?.[1] ?? '?').toUpperCase()}`);
    add(`statement:${sql.replace(/\s+/g, ' ').trim().slice(0, 120)}`);
  };
  return {
    feed(chunk) {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      let at = 0;
      for (;;) {
        if (startup) {
          if (buffered.length - at < 8) break;
          const length = buffered.readInt32BE(at);
          if (buffered.length - at < length) break;
          const code = buffered.readInt32BE(at + 4);
          if (!PG_STARTUP_CODES.has(code)) startup = false; // the StartupMessage: typed messages from here
          at += length;
          continue;
        }
        if (buffered.length - at < 5) break;
        const type = String.fromCharCode(buffered[at]!);
        const length = buffered.readInt32BE(at + 1);
        if (buffered.length - at < 1 + length) break;
        add(type);
        if (type === 'S' || type === 'Q') add('roundTrips');
        if (type === 'Q') statement(at + 5, at + 1 + length);
        if (type === 'P') {
          // Parse: statement name (C string), then the query (C string).
          const nameEnd = buffered.indexOf(0, at + 5);
          statement(nameEnd + 1, at + 1 + length);
        }
        at += 1 + length;
      }
      buffered = at === buffered.length ? Buffer.alloc(0) : buffered.subarray(at);
    },
  };
}

/**
 * Counts Redis commands (RESP arrays of bulk strings) by name, upper case; EVALSHA as
 * `EVALSHA <name>` when `scripts` knows the SHA (else its first 8 hex digits), and `commands`, all
 * of them.
 */
export function respCommandCounter(byKind: Record<string, number>, scripts: ReadonlyMap<string, string> = new Map()): StreamCounter {
  let buffered: Buffer = Buffer.alloc(0);
  const add = (kind: string) => (byKind[kind] = (byKind[kind] ?? 0) + 1);
  /** The line ending at the next CRLF from `at`: [text, index after it], or undefined if incomplete. */
  const line = (at: number): [string, number] | undefined => {
    const end = buffered.indexOf('\r\n', at);
    return end < 0 ? undefined : [buffered.toString('latin1', at, end), end + 2];
  };
  return {
    feed(chunk) {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      let at = 0;
      // One whole command at a time; an incomplete one waits for more bytes.
      commands: for (;;) {
        const header = line(at);
        if (!header) break;
        if (!header[0].startsWith('*')) {
          // An inline command (redis-cli style): one line.
          add((header[0].split(' ')[0] ?? '').toUpperCase());
          add('commands');
          at = header[1];
          continue;
        }
        const n = Number(header[0].slice(1));
        let next = header[1];
        const args: string[] = [];
        for (let i = 0; i < n; i++) {
          const bulk = line(next);
          if (!bulk) break commands;
          const len = Number(bulk[0].slice(1));
          if (buffered.length < bulk[1] + len + 2) break commands;
          if (i < 2) args.push(buffered.toString('latin1', bulk[1], bulk[1] + Math.min(len, 64)));
          next = bulk[1] + len + 2;
        }
        const name = (args[0] ?? '').toUpperCase();
        add(name === 'EVALSHA' ? `EVALSHA ${scripts.get(args[1] ?? '') ?? (args[1] ?? '').slice(0, 8)}` : name);
        add('commands');
        at = next;
      }
      buffered = at === buffered.length ? Buffer.alloc(0) : buffered.subarray(at);
    },
  };
}
