/**
 * The composition root: read config, open the store, build the registry and the session hub,
 * start the transports on one HTTP server.
 */
import type { AddressInfo } from 'node:net';
import { createMetrics } from './api/metrics.ts';
import type { App } from './api/context.ts';
import type { Config } from './config.ts';
import { Registry } from './registry/registry.ts';
import { SessionHub } from './sessions/hub.ts';
import { LowdbStore } from './store/lowdb-store.ts';
import { createHttpApp } from './transports/http.ts';

export interface RunningServer {
  config: Config;
  /** http://host:port actually bound */
  url: string;
  port: number;
  registry: Registry;
  hub: SessionHub;
  app: App;
  /** Stops taking connections, flushes the store, closes sockets (1001). */
  close(): Promise<void>;
}

export interface Bootstrap {
  /** A root api key made on this start (print it once). */
  rootApiKey?: string;
  /** The demo server made on this start. */
  demoServerId?: string;
}

export async function startServer(config: Config): Promise<RunningServer & { bootstrap: Bootstrap }> {
  const store = await LowdbStore.open(config.dataDir);
  const registry = new Registry(store, config.limits);
  const bootstrap: Bootstrap = {};
  const root = await registry.access.ensureRootKey(config.rootApiKey);
  if (root.apikey) bootstrap.rootApiKey = root.apikey;
  if (config.demo && registry.servers.list().length === 0) {
    const demo = await registry.servers.create({ serverName: 'Demo server', appname: 'nextAuth demo' });
    bootstrap.demoServerId = demo.serverid;
  }

  const metrics = createMetrics();
  const hub = new SessionHub();
  const app = await createHttpApp({ config, registry, hub, metrics });
  await app.listen({ host: config.host, port: config.port });
  const port = (app.server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  // With port 0 the default public URL names the port we got.
  if (config.port === 0 && config.publicUrl.endsWith(':0')) config.publicUrl = url;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await hub.close();
      await app.close();
      await store.close();
    })());

  return { config, url, port, registry, hub, app, close, bootstrap };
}
