/**
 * A small REST client for the bench: node:http with keep-alive (cheaper per request than fetch,
 * so the generator spends its CPU on the logins, not on its HTTP client).
 */
import http from 'node:http';

export interface RestReply {
  status: number;
  raw: Buffer;
  json<T = any>(): T;
}

export class Rest {
  readonly agent: http.Agent;
  readonly #url: URL;

  constructor(
    baseUrl: string,
    readonly apikey: string,
    maxSockets = 256,
  ) {
    this.#url = new URL(baseUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /**
   * One request. A kept-alive socket the server closed just as it was reused (its keep-alive
   * timeout) fails with ECONNRESET or "socket hang up" before any answer: then the request is
   * sent once more on a new socket (node's documented pattern, `req.reusedSocket`).
   */
  request(method: string, path: string, opts: { headers?: Record<string, string>; body?: unknown } = {}, retried = false): Promise<RestReply> {
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string | number> = { 'x-apikey': this.apikey, ...opts.headers };
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ host: this.#url.hostname, port: this.#url.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, raw, json: () => JSON.parse(raw.toString('utf8')) });
        });
        res.on('error', reject);
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (!retried && req.reusedSocket && (e.code === 'ECONNRESET' || e.message === 'socket hang up')) resolve(this.request(method, path, opts, true));
        else reject(e);
      });
      req.end(body);
    });
  }

  /** The JSON answer of a 200, or a thrown Error naming the call. */
  async ok<T = any>(method: string, path: string, opts: { headers?: Record<string, string>; body?: unknown } = {}): Promise<T> {
    const r = await this.request(method, path, opts);
    if (r.status !== 200) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.raw.toString('utf8').slice(0, 200)}`);
    return (r.raw.length ? r.json() : null) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

const NONCE_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** A fresh random nonce of 32 characters (a relying party's session cookie). */
export function newNonce(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += NONCE_CHARS[Math.floor(Math.random() * NONCE_CHARS.length)];
  return s;
}
