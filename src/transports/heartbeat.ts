/** WebSocket liveness: ping every client every 30 s; one that missed the last pong is dropped. */
import type { WebSocket, WebSocketServer } from 'ws';

export function heartbeat(wss: WebSocketServer, intervalMs = 30_000): () => void {
  const alive = new WeakMap<WebSocket, boolean>();
  wss.on('connection', (ws) => {
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
  });
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
