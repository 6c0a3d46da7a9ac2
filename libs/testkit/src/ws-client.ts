import WebSocket from 'ws';

export interface Received {
  type: string;
  data?: any;
  id?: string;
  /** The binary frame that followed this `audio_chunk` message. */
  binary?: Buffer;
  /** `Date.now()` on arrival. */
  at: number;
}

/** Error of a refused WebSocket handshake. */
export class SocketRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`WebSocket upgrade refused with HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`);
    this.name = 'SocketRefusedError';
  }
}

export interface WaitOptions {
  /** Default 10000. */
  timeoutMs?: number;
  /** Index into `received` to start looking from. Default 0. */
  from?: number;
}

/** Type given to a text frame that is not valid JSON (`data` holds the raw text). */
export const UNPARSEABLE = '__unparseable__';
/** Type given to a binary frame that does not follow an `audio_chunk` message. */
export const STRAY_BINARY = '__binary__';

/**
 * A test client over `ws`: records every message, so tests can wait for one at any time without racing
 * the server.
 */
export class TestSocket {
  /** Every text frame parsed as JSON, in order; binary frames are attached to their `audio_chunk`. */
  readonly received: Received[] = [];
  /** Number of binary frames received. */
  binaryCount = 0;
  /** Resolves when the socket is closed (by either side). */
  readonly closed: Promise<{ code: number; reason: string }>;
  private closeInfo: { code: number; reason: string } | undefined;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw: WebSocket.RawData, isBinary: boolean) => {
      const at = Date.now();
      const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw as ArrayBuffer);
      if (isBinary) {
        this.binaryCount++;
        const last = this.received[this.received.length - 1];
        if (last && last.type === 'audio_chunk' && last.binary === undefined) last.binary = buf;
        else this.received.push({ type: STRAY_BINARY, binary: buf, at });
      } else {
        const text = buf.toString('utf8');
        let msg: Received;
        try {
          const parsed = JSON.parse(text);
          msg =
            parsed && typeof parsed === 'object' && typeof parsed.type === 'string'
              ? { ...parsed, at }
              : { type: UNPARSEABLE, data: text, at };
        } catch {
          msg = { type: UNPARSEABLE, data: text, at };
        }
        this.received.push(msg);
      }
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    // Errors after the handshake end in 'close'; keep them from becoming uncaught exceptions.
    ws.on('error', () => {});
  }

  /** Opens a socket; rejects with `SocketRefusedError` (`.status`) when the server answers the upgrade with HTTP. */
  static connect(url: string, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<TestSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: opts.headers, handshakeTimeout: opts.timeoutMs ?? 10_000 });
      const sock = new TestSocket(ws);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        ws.terminate();
        reject(err);
      };
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        resolve(sock);
      });
      ws.once('unexpected-response', (req, res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        const done = () => {
          req.destroy();
          fail(new SocketRefusedError(res.statusCode ?? 0, Buffer.concat(parts).toString('utf8')));
        };
        res.once('end', done);
        res.once('error', done);
        res.once('aborted', done);
      });
      ws.once('error', (err) => fail(err));
      ws.once('close', (code) => fail(new Error(`WebSocket closed (code ${code}) before it opened`)));
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends one JSON envelope `{type, data?, id?}`. */
  send(type: string, data?: unknown, id?: string): void {
    const env: Record<string, unknown> = { type };
    if (data !== undefined) env.data = data;
    if (id !== undefined) env.id = id;
    this.ws.send(JSON.stringify(env));
  }

  /** Sends a frame as is: a string as a text frame, a Buffer as a binary frame. */
  sendRaw(frame: string | Buffer): void {
    this.ws.send(frame, { binary: typeof frame !== 'string' });
  }

  ofType(type: string): Received[] {
    return this.received.filter((m) => m.type === type);
  }

  /**
   * Resolves with the first received message (from index `from`, default 0) matching `pred`; rejects
   * after timeoutMs (default 10000), or as soon as the socket is closed, listing the types received.
   */
  waitFor(pred: (m: Received) => boolean, opts: WaitOptions = {}): Promise<Received> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    let next = Math.max(0, opts.from ?? 0);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        fn();
      };
      const check = () => {
        for (; next < this.received.length; next++) {
          const m = this.received[next];
          let ok: boolean;
          try {
            ok = pred(m);
          } catch (err) {
            finish(() => reject(err));
            return;
          }
          if (ok) {
            finish(() => resolve(m));
            return;
          }
        }
        if (this.closeInfo) {
          const { code, reason } = this.closeInfo;
          finish(() => reject(new Error(`waitFor: socket closed (code ${code}${reason ? `, ${reason}` : ''}) without a match; ${this.describe(opts.from)}`)));
        }
      };
      timer = setTimeout(() => finish(() => reject(new Error(`waitFor: no match after ${timeoutMs} ms; ${this.describe(opts.from)}`))), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  waitForType(type: string, pred?: (m: Received) => boolean, opts?: WaitOptions): Promise<Received> {
    return this.waitFor((m) => m.type === type && (!pred || pred(m)), opts).catch((err: Error) => {
      err.message = `[waiting for '${type}'] ${err.message}`;
      throw err;
    });
  }

  /** Closes the socket and resolves once closed (terminates it if the close handshake stalls). */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), 2_000);
    await this.closed;
    clearTimeout(timer);
  }

  private describe(from?: number): string {
    const types = this.received.slice(from ?? 0).map((m) => m.type);
    const shown = types.length > 80 ? [...types.slice(0, 20), `…${types.length - 80} more…`, ...types.slice(-60)] : types;
    return `received${from ? ` from #${from}` : ''} ${types.length}: [${shown.join(', ')}]`;
  }

  private wake(): void {
    for (const l of [...this.listeners]) l();
  }
}

/**
 * Opens a socket on the edge at `wsUrl` and waits for its `session_started`: on `conversationId` when given
 * (`?conversation_id=`), else on the conversation the edge picks.
 */
export async function openSession(
  wsUrl: string,
  opts: { conversationId?: string } = {},
): Promise<{ s: TestSocket; conversationId: string }> {
  const url = opts.conversationId ? `${wsUrl}?conversation_id=${encodeURIComponent(opts.conversationId)}` : wsUrl;
  const s = await TestSocket.connect(url);
  const started = await s.waitForType('session_started');
  return { s, conversationId: started.data.conversation_id };
}
