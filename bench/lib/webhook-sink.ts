/**
 * A webhook endpoint for the bench, in the driver's process (not the server's): it answers every
 * delivery 204 and counts them, with when the last one came. It does not verify signatures (the
 * tests do): its CPU is the receiver's, not the server's, either way.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export class WebhookSink {
  count = 0;
  lastAt = 0;
  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<WebhookSink> {
    const server = http.createServer();
    const sink = new WebhookSink(server);
    server.on('request', (req, res) => {
      req.resume();
      req.on('end', () => {
        sink.count++;
        sink.lastAt = Date.now();
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return sink;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
