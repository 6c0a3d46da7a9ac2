// The socket of PROTOCOL.md: one JSON envelope per text frame, PCM as binary frames, automatic reconnect.
// The zod-free subpath: a value from the main entry would bundle zod (~140 KB) into the app.
import { MAX_FRAME_BYTES } from '@chorus/contracts/limits';
import { signal } from '@preact/signals';

export interface ServerMessage {
  type: string;
  data?: any;
  id?: string;
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting';

/** A refused request: the server's `error` or `db_error` reply to it. */
export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (m: ServerMessage) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Longest wait for a reply (a refused oversized frame, for one, is answered without the request's id). */
const REQUEST_TIMEOUT_MS = 20_000;

export interface ConnectionHandlers {
  message(m: ServerMessage): void;
  binary(frame: ArrayBuffer): void;
  open(ws: WebSocket): void;
  close(): void;
}

/** Reconnects with capped exponential backoff; where to resume (query parameters) is asked for on each connect. */
export class Connection {
  readonly state = signal<ConnectionState>('connecting');
  /** Seconds until the next attempt while reconnecting. */
  readonly retryIn = signal(0);
  ws: WebSocket | null = null;
  private attempt = 0;
  private seq = 0;
  private readonly pending = new Map<string, Pending>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly handlers: ConnectionHandlers,
    /** The conversation to resume and what the page has of its speech (AudioResumeQuery). */
    private readonly resume: () => Record<string, string>,
  ) {}

  connect(): void {
    clearTimeout(this.timer);
    const q = new URLSearchParams();
    const token = new URLSearchParams(location.search).get('token');
    if (token) q.set('token', token);
    for (const [k, v] of Object.entries(this.resume())) q.set(k, v);
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?${q}`);
    ws.binaryType = 'arraybuffer'; // TTS PCM arrives as binary frames
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.state.value = 'connected';
      this.handlers.open(ws);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new RequestError('disconnected', 'The connection was lost; try again.'));
      }
      this.pending.clear();
      this.handlers.close();
      this.state.value = 'reconnecting';
      const wait = Math.min(10_000, 500 * 2 ** this.attempt++);
      this.retryIn.value = Math.ceil(wait / 1000);
      this.timer = setTimeout(() => this.connect(), wait);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return this.handlers.binary(ev.data as ArrayBuffer);
      let m: ServerMessage;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return; // the server only sends JSON; a broken frame is not worth a crash
      }
      const p = m.id ? this.pending.get(m.id) : undefined;
      if (p) {
        this.pending.delete(m.id!);
        clearTimeout(p.timer);
        // A refusal goes to the one who asked (it shows it in context), not to the general handler too.
        if (m.type === 'error') return p.reject(new RequestError(m.data?.code ?? 'error', m.data?.message ?? 'Request failed.'));
        if (m.type === 'db_error') return p.reject(new RequestError('db_error', m.data?.error ?? 'The database refused it.'));
        p.resolve(m);
      }
      this.handlers.message(m);
    };
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Fire and forget; false when the socket is down. `id`: a correlation id (nextId()) the replies will echo. */
  send(type: string, data?: unknown, id?: string): boolean {
    if (!this.open) return false;
    this.ws!.send(JSON.stringify(data === undefined ? { type, id } : { type, data, id }));
    return true;
  }

  /** A correlation id not used before on this page. */
  nextId(): string {
    return `r${++this.seq}`;
  }

  /** Resolves with the first reply that echoes the request's id; rejects on its `error`. */
  request(type: string, data?: unknown): Promise<ServerMessage> {
    if (!this.open) return Promise.reject(new RequestError('disconnected', 'Not connected to the server; it is reconnecting.'));
    const id = this.nextId();
    const frame = JSON.stringify(data === undefined ? { type, id } : { type, data, id });
    if (new TextEncoder().encode(frame).length > MAX_FRAME_BYTES) {
      return Promise.reject(new RequestError('too_large', `That is too large to send (over ${MAX_FRAME_BYTES / 1024} KiB); shorten it.`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError('timeout', 'The server did not answer; try again.'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.ws!.send(frame);
    });
  }

  sendBinary(buf: ArrayBuffer): boolean {
    if (!this.open) return false;
    this.ws!.send(buf);
    return true;
  }
}
