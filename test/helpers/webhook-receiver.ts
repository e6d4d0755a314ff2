/**
 * A webhook endpoint on 127.0.0.1 for the tests: it keeps every delivery it answered 2xx (its
 * headers, body and the CloudEvent in it), checks each one's Standard Webhooks signature
 * against the secret it is given, and can be told to fail (answer 503) or to be down (refuse
 * connections) for a while.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudEvent } from '../../src/core/events/cloud-event.ts';
import { verifyWebhook } from '../../src/core/events/sign-webhook.ts';

export interface Delivery {
  id: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  event: CloudEvent;
}

export class WebhookReceiver {
  /** Deliveries answered 2xx, in the order they came. */
  readonly received: Delivery[] = [];
  /** Every request, whatever it was answered. */
  requests = 0;
  /** The `webhook-id` of every request, in the order they came (failed tries included). */
  readonly tried: string[] = [];
  /** Deliveries whose signature did not verify (each is answered 401). */
  readonly badSignatures: string[] = [];
  secret = '';
  mode: 'ok' | 'fail' = 'ok';
  private server: http.Server;
  port = 0;

  private constructor() {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        this.requests++;
        this.tried.push(String(req.headers['webhook-id']));
        if (this.mode === 'fail') return void res.writeHead(503).end('down for a while');
        try {
          verifyWebhook(this.secret, req.headers as Record<string, string>, body);
        } catch (e) {
          this.badSignatures.push(`${req.headers['webhook-id']}: ${(e as Error).message}`);
          return void res.writeHead(401).end();
        }
        this.received.push({ id: String(req.headers['webhook-id']), headers: req.headers, body, event: JSON.parse(body) as CloudEvent });
        res.writeHead(204).end();
      });
    });
  }

  static async start(port = 0): Promise<WebhookReceiver> {
    const r = new WebhookReceiver();
    await r.listen(port);
    return r;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  types(): string[] {
    return this.received.map((d) => d.event.type);
  }

  /** Down: connections refused until `up()`. */
  async down(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  async up(): Promise<void> {
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
