import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Shared machinery of the scripted OpenAI-compatible servers (`scripted-llm`, `scripted-speech`):
 * request recording, the reply queue / responder, `waitForRequests`, routing and closing. Each server
 * keeps only its own record shape, reply options and the way it writes a reply.
 */

/** What every request record has: the close handler sets `aborted`. */
export interface ScriptedRecordBase {
  /** True when the client closed the connection before the reply finished. */
  aborted: boolean;
}

/** The reply options every scripted server understands. */
export interface ScriptedReplyBase {
  /** Non-200 → OpenAI's JSON error body `{error: {message, type, code, param}}` with this status. */
  status?: number;
  errorMessage?: string;
  /** Overrides the error `type` derived from the status (e.g. `rate_limit_error`). */
  errorType?: string;
  /** Overrides the error `code` derived from the status. */
  errorCode?: string | null;
  /** Extra response headers (e.g. `{'retry-after-ms': '0'}`). */
  headers?: Record<string, string>;
  /** Sets `x-should-retry: true|false`, which the openai client obeys instead of its own retry rules. */
  shouldRetry?: boolean;
}

/** The part of a scripted server that tests see. */
export interface ScriptedHandle<Rec, Reply> {
  /** Base URL including /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  /** Every scripted request, in arrival order. */
  requests: Rec[];
  /** Replies used in FIFO order before the responder function. */
  enqueue(...replies: Reply[]): void;
  /** Default responder (used when the queue is empty); default `{}`. */
  respond(fn: (req: Rec) => Reply | Promise<Reply>): void;
  /** Resolves with (a copy of) all requests once at least `n` have arrived; rejects after timeoutMs (default 10000). */
  waitForRequests(n: number, timeoutMs?: number): Promise<Rec[]>;
  close(): Promise<void>;
}

/** Status → default OpenAI error `[type, code]`; statuses not listed fall back to server_error / error. */
export type ScriptedErrorKinds = Record<number, [type: string, code: string]>;

/** The error kinds both scripted endpoints report alike; each adds the ones where the real endpoints differ. */
export const COMMON_ERROR_KINDS: ScriptedErrorKinds = {
  400: ['invalid_request_error', 'invalid_request'],
  403: ['permission_error', 'permission_denied'],
  429: ['rate_limit_error', 'rate_limit_exceeded'],
};

export type ScriptedRoute<Rec extends ScriptedRecordBase, Reply extends ScriptedReplyBase> = (
  req: IncomingMessage,
  res: ServerResponse,
  server: ScriptedServer<Rec, Reply>,
) => unknown;

export interface ScriptedServerOptions<Rec extends ScriptedRecordBase, Reply extends ScriptedReplyBase> {
  port?: number;
  /** Names the server in messages: `<name> failed: …` (500), `… <noun> requests after …` (waitForRequests). */
  name: string;
  noun: string;
  errorKinds: ScriptedErrorKinds;
  /** Keyed by `METHOD /path` (trailing slashes and the query string are ignored); anything else is a 404. */
  routes: Record<string, ScriptedRoute<Rec, Reply>>;
}

/** One accepted request: its record, the reply chosen for it and its connection. */
export interface ScriptedExchange<Rec, Reply> {
  /** The parsed JSON request body. */
  body: any;
  record: Rec;
  /** The queued or responder reply; `{}` when the responder returned nothing. */
  reply: Reply;
  /** `reply.headers` plus `x-should-retry` from `reply.shouldRetry`. */
  headers: Record<string, string>;
  /** Resolves when the connection closes, for whatever reason. */
  closed: Promise<void>;
  readonly isClosed: boolean;
  /** Destroys the socket (a scripted broken stream) without counting the request as aborted. */
  drop(): void;
  /** Awaits `p`, but no longer than the connection stays open, so a hung script never outlives its client. */
  untilClosed<T>(p: PromiseLike<T> | T): Promise<T | void>;
  /** Waits `ms` (nothing when absent or ≤ 0), cut short by the connection closing. */
  pause(ms: number | undefined): Promise<void>;
  /** Writes a chunk and waits until it is flushed or the connection closes. */
  write(chunk: string | Uint8Array): Promise<void>;
  /** Sends the scripted error reply: `body`, or OpenAI's error body from the reply's status and error fields. */
  sendError(body?: unknown): void;
}

/** A request's whole body; rejects when the client goes away before sending all of it. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.once('end', () => resolve(Buffer.concat(parts)));
    req.once('error', reject);
    req.once('close', () => reject(new Error('the client closed the connection during the upload')));
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ScriptedServer<Rec extends ScriptedRecordBase, Reply extends ScriptedReplyBase> {
  readonly requests: Rec[] = [];
  /** Plain closures, not methods, so that tests may destructure them (`const { enqueue } = llm`). */
  readonly handle: ScriptedHandle<Rec, Reply>;
  private readonly queue: Reply[] = [];
  private responder: (req: Rec) => Reply | Promise<Reply> = () => ({}) as Reply;
  private readonly waiters = new Set<{ n: number; resolve: (r: Rec[]) => void }>();
  /** Set by close(): connections it cuts are not client aborts. */
  private shuttingDown = false;
  private closing: Promise<void> | undefined;
  private readonly server: Server;

  private constructor(private readonly opts: ScriptedServerOptions<Rec, Reply>) {
    // noDelay: small stream chunks must reach the client at once (Node's default too, made explicit).
    this.server = createServer({ noDelay: true }, (req, res) => this.route(req, res));
    this.handle = {
      url: '',
      requests: this.requests,
      enqueue: (...replies) => {
        this.queue.push(...replies);
      },
      respond: (fn) => {
        this.responder = fn;
      },
      waitForRequests: (n, timeoutMs) => this.waitForRequests(n, timeoutMs),
      close: () => this.close(),
    };
  }

  /** Starts listening on 127.0.0.1 (`opts.port`, default a free one). */
  static async start<Rec extends ScriptedRecordBase, Reply extends ScriptedReplyBase>(
    opts: ScriptedServerOptions<Rec, Reply>,
  ): Promise<ScriptedServer<Rec, Reply>> {
    const s = new ScriptedServer(opts);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(opts.port ?? 0, '127.0.0.1', () => {
        s.server.off('error', reject);
        resolve();
      });
    });
    const { port } = s.server.address() as AddressInfo;
    s.handle.url = `http://127.0.0.1:${port}/v1`;
    return s;
  }

  get url(): string {
    return this.handle.url;
  }

  /** OpenAI's error body `{error: {message, type, code, param}}`, defaults from `opts.errorKinds`. */
  errorBody(status: number, message: string, type?: string, code?: string | null) {
    const [dType, dCode] =
      this.opts.errorKinds[status] ?? (status >= 500 ? ['server_error', 'server_error'] : ['invalid_request_error', 'error']);
    return { error: { message, type: type ?? dType, code: code === undefined ? dCode : code, param: null } };
  }

  /** Sends a whole reply: a string as text, anything else as JSON. */
  send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const isText = typeof body === 'string';
    const payload = isText ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
      'content-length': Buffer.byteLength(payload),
      ...headers,
    });
    res.end(payload);
  }

  /**
   * Reads the JSON body (a 400 when it is not JSON) unless the route already parsed it (`parsed`, e.g. a
   * multipart form), records the request, and picks its reply from
   * the queue or the responder (a 500 reply when the responder throws). Undefined when there is
   * nothing left to answer: bad JSON, or the client went away while the responder ran.
   */
  async accept(
    req: IncomingMessage,
    res: ServerResponse,
    makeRecord: (body: any, req: IncomingMessage, closed: Promise<void>) => Rec,
    parsed?: { body: unknown },
  ): Promise<ScriptedExchange<Rec, Reply> | undefined> {
    let body: any = parsed?.body;
    if (!parsed) {
      try {
        body = JSON.parse((await readBody(req)).toString('utf8'));
      } catch {
        this.send(res, 400, this.errorBody(400, 'request body is not valid JSON'));
        return undefined;
      }
    }

    // Closure tracking: `closed` resolves when the response/socket closes for whatever reason.
    let dropped = false;
    let isClosed = false;
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    const record = makeRecord(body, req, closed);
    res.once('close', () => {
      isClosed = true;
      // Only a client that leaves early is an abort; a scripted drop or our own close() is not.
      if (!res.writableFinished && !dropped && !this.shuttingDown) record.aborted = true;
      markClosed();
    });
    this.requests.push(record);
    this.notify();

    let reply: Reply;
    try {
      reply = this.queue.length > 0 ? this.queue.shift()! : await this.responder(record);
    } catch (err) {
      reply = { status: 500, errorMessage: `scripted responder threw: ${errorText(err)}` } as Reply;
    }
    reply ??= {} as Reply;
    if (isClosed) return undefined;

    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    if (reply.shouldRetry !== undefined) headers['x-should-retry'] = String(reply.shouldRetry);

    const untilClosed = <T>(p: PromiseLike<T> | T) => Promise.race([Promise.resolve(p), closed]);
    return {
      body,
      record,
      reply,
      headers,
      closed,
      get isClosed() {
        return isClosed;
      },
      drop: () => {
        dropped = true;
        res.socket?.destroy();
      },
      untilClosed,
      pause: (ms) => (ms && ms > 0 ? untilClosed(new Promise<void>((r) => setTimeout(r, ms))) : Promise.resolve()),
      write: (chunk) => untilClosed(new Promise<void>((r) => res.write(chunk, () => r()))),
      sendError: (errorBody) => {
        const status = reply.status ?? 500;
        const message = reply.errorMessage ?? `scripted error (status ${status})`;
        this.send(res, status, errorBody ?? this.errorBody(status, message, reply.errorType, reply.errorCode), headers);
      },
    };
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const run = async () => {
      const handler = this.opts.routes[`${req.method} ${path}`];
      if (handler) return handler(req, res, this);
      req.resume();
      this.send(res, 404, this.errorBody(404, `no route for ${req.method} ${path}`, 'invalid_request_error', 'unknown_url'));
    };
    run().catch((err) => {
      if (!res.headersSent) this.send(res, 500, this.errorBody(500, `${this.opts.name} failed: ${errorText(err)}`));
      else res.destroy();
    });
  }

  private notify(): void {
    for (const w of this.waiters) {
      if (this.requests.length >= w.n) {
        this.waiters.delete(w);
        w.resolve(this.requests.slice());
      }
    }
  }

  private waitForRequests(n: number, timeoutMs = 10_000): Promise<Rec[]> {
    if (this.requests.length >= n) return Promise.resolve(this.requests.slice());
    return new Promise((resolve, reject) => {
      const w = {
        n,
        resolve: (r: Rec[]) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`waitForRequests: ${this.requests.length} of ${n} ${this.opts.noun} requests after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  private close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.shuttingDown = true;
      this.server.close(() => resolve());
      // Open streams (hung replies, keep-alive sockets) would otherwise keep close() waiting forever.
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}
