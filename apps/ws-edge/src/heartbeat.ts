import type { WebSocket, WebSocketServer } from 'ws';

/**
 * Pings every socket once per interval and cuts off one that has not answered the previous ping. A client
 * that vanished without closing (a suspended phone, a dropped network) or stopped reading would otherwise keep
 * its socket, its subscriptions and, for one that does not read, its conversation's audio paused, for as long
 * as TCP keeps the connection (hours). Browsers answer pings by themselves. A socket still draining what was
 * queued for it counts as answering: the ping waits behind that.
 */
export class Heartbeat {
  private readonly answered = new WeakSet<WebSocket>();
  private readonly bufferedAtPing = new WeakMap<WebSocket, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly wss: WebSocketServer,
    intervalMs: number,
    private readonly onUnresponsive: (ws: WebSocket) => void,
  ) {
    this.timer = setInterval(() => this.beat(), intervalMs);
    this.timer.unref();
  }

  /** A new socket counts as having answered: its first ping comes at the next beat. */
  track(ws: WebSocket): void {
    this.answered.add(ws);
    ws.on('pong', () => this.answered.add(ws));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private beat(): void {
    for (const ws of this.wss.clients) {
      if (ws.readyState !== ws.OPEN) continue; // closing already
      // A pong comes behind whatever is still queued for the socket: one that is draining is reading, just slowly.
      const buffered = ws.bufferedAmount;
      const draining = buffered < (this.bufferedAtPing.get(ws) ?? 0);
      if (!this.answered.delete(ws) && !draining) {
        this.onUnresponsive(ws);
        ws.terminate();
        continue;
      }
      this.bufferedAtPing.set(ws, buffered);
      ws.ping();
    }
  }
}
