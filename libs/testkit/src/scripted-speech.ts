import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SpeechRequestRecord {
  /** The parsed JSON body of `POST /v1/audio/speech`. */
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /** `Date.now()` when the request body had been read. */
  at: number;
  /** Audio chunks written so far (0 for error replies). */
  chunksSent: number;
  /** True once the whole reply has been written. */
  finished: boolean;
  /** True when the client closed the connection before the reply finished. */
  aborted: boolean;
  /** Resolves when the connection of this request closes, for whatever reason. */
  closed: Promise<void>;
}

export type ScriptedSpeechReply = {
  /** Non-200 → a JSON error body; OpenAI's `{error: {message, type, code, param}}` unless `body` is given. */
  status?: number;
  /** Raw reply body for a scripted status: an object is sent as JSON, a string as text. */
  body?: unknown;
  errorMessage?: string;
  errorType?: string;
  errorCode?: string | null;
  /** Accept the request and never answer (no headers) until the client goes away. */
  hang?: boolean;
  /** Audio to send instead of the default tone (s16le samples). */
  pcm?: Int16Array;
  /** Byte sizes of the chunks, repeated as needed; default: about 6 chunks of an odd size. */
  chunkBytes?: number | number[];
  /** Delay between chunks; default the server's `chunkDelayMs`. */
  chunkDelayMs?: number;
  /** Awaited before chunk `index` is written (raced with the connection closing). */
  beforeChunk?: (index: number, record: SpeechRequestRecord) => unknown;
  /** Send N chunks, then keep the connection open without sending more until the client aborts. */
  hangAfterChunks?: number;
  /** Destroy the socket after N chunks (a broken stream). */
  dropAfterChunks?: number;
  headers?: Record<string, string>;
  /** Sets `x-should-retry: true|false`, which the openai client obeys instead of its own retry rules. */
  shouldRetry?: boolean;
};

export interface ScriptedSpeech {
  /** Base URL including /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  /** Every speech request, in arrival order. */
  requests: SpeechRequestRecord[];
  /** Replies used in FIFO order before the responder function. */
  enqueue(...replies: ScriptedSpeechReply[]): void;
  /** Default responder (used when the queue is empty); default `{}`: the tone of `scriptedSpeechPcm`. */
  respond(fn: (req: SpeechRequestRecord) => ScriptedSpeechReply | Promise<ScriptedSpeechReply>): void;
  /** Resolves with (a copy of) all requests once at least `n` have arrived; rejects after timeoutMs (default 10000). */
  waitForRequests(n: number, timeoutMs?: number): Promise<SpeechRequestRecord[]>;
  close(): Promise<void>;
}

export interface ScriptedSpeechOptions {
  port?: number;
  /** Default delay between audio chunks. Default 5 ms. */
  chunkDelayMs?: number;
}

/** OpenAI's `pcm` format: 24 kHz, s16le, mono. */
export const SCRIPTED_SPEECH_RATE = 24_000;
const MS_PER_CHAR = 60;
const MAX_MS = 10_000;

/** Samples of the default reply: 60 ms per character of `input` (capped at 10 s), divided by `speed`. */
export function scriptedSpeechSampleCount(input: string, speed = 1): number {
  const ms = Math.min(Array.from(input).length * MS_PER_CHAR, MAX_MS) / (speed > 0 ? speed : 1);
  return Math.round((ms * SCRIPTED_SPEECH_RATE) / 1000);
}

/** The default reply's audio: a 440 Hz tone of `scriptedSpeechSampleCount(input, speed)` samples. */
export function scriptedSpeechPcm(input: string, speed = 1): Int16Array {
  const out = new Int16Array(scriptedSpeechSampleCount(input, speed));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / SCRIPTED_SPEECH_RATE));
  return out;
}

const ERROR_KIND: Record<number, [type: string, code: string]> = {
  400: ['invalid_request_error', 'invalid_request'],
  401: ['invalid_request_error', 'invalid_api_key'],
  403: ['permission_error', 'permission_denied'],
  404: ['invalid_request_error', 'model_not_found'],
  429: ['rate_limit_error', 'rate_limit_exceeded'],
};

function errorBody(status: number, message: string, type?: string, code?: string | null) {
  const [dType, dCode] = ERROR_KIND[status] ?? (status >= 500 ? ['server_error', 'server_error'] : ['invalid_request_error', 'error']);
  return { error: { message, type: type ?? dType, code: code === undefined ? dCode : code, param: null } };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const isText = typeof body === 'string';
  const payload = isText ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.once('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.once('error', reject);
  });
}

function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(SCRIPTED_SPEECH_RATE, 24);
  h.writeUInt32LE(SCRIPTED_SPEECH_RATE * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Cuts `bytes` into chunks; odd default sizes so that clients must carry half samples across chunks. */
function splitBytes(bytes: Buffer, sizes: number | number[] | undefined): Buffer[] {
  const list = sizes === undefined ? [Math.ceil(bytes.length / 6) | 1] : Array.isArray(sizes) ? sizes : [sizes];
  const out: Buffer[] = [];
  for (let pos = 0, i = 0; pos < bytes.length; i++) {
    const size = Math.max(1, Math.floor(list[i % list.length] ?? 1));
    out.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return out;
}

/**
 * Starts a real OpenAI-compatible `POST /v1/audio/speech` server on 127.0.0.1. By default it streams
 * (chunked transfer) the tone of `scriptedSpeechPcm(input, speed)` as `pcm` (24 kHz s16le mono) or `wav`;
 * other formats get a 400. Replies can be scripted with `enqueue` / `respond`.
 */
export async function startScriptedSpeech(opts: ScriptedSpeechOptions = {}): Promise<ScriptedSpeech> {
  const requests: SpeechRequestRecord[] = [];
  const queue: ScriptedSpeechReply[] = [];
  let responder: (req: SpeechRequestRecord) => ScriptedSpeechReply | Promise<ScriptedSpeechReply> = () => ({});
  const waiters = new Set<{ n: number; resolve: (r: SpeechRequestRecord[]) => void }>();
  let shuttingDown = false;

  const notify = () => {
    for (const w of waiters) {
      if (requests.length >= w.n) {
        waiters.delete(w);
        w.resolve(requests.slice());
      }
    }
  };

  async function handleSpeech(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      send(res, 400, errorBody(400, 'request body is not valid JSON'));
      return;
    }

    let dropped = false;
    let isClosed = false;
    let markClosed!: () => void;
    const record: SpeechRequestRecord = {
      body,
      headers: { ...req.headers },
      at: Date.now(),
      chunksSent: 0,
      finished: false,
      aborted: false,
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
    };
    res.once('close', () => {
      isClosed = true;
      if (!res.writableFinished && !dropped && !shuttingDown) record.aborted = true;
      markClosed();
    });
    requests.push(record);
    notify();

    let reply: ScriptedSpeechReply;
    try {
      reply = queue.length > 0 ? queue.shift()! : await responder(record);
    } catch (err) {
      reply = { status: 500, errorMessage: `scripted responder threw: ${err instanceof Error ? err.message : String(err)}` };
    }
    reply ??= {};
    if (isClosed) return;

    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    if (reply.shouldRetry !== undefined) headers['x-should-retry'] = String(reply.shouldRetry);

    if (reply.hang) {
      await record.closed;
      return;
    }
    if (reply.status !== undefined && reply.status !== 200) {
      const message = reply.errorMessage ?? `scripted error (status ${reply.status})`;
      send(res, reply.status, reply.body ?? errorBody(reply.status, message, reply.errorType, reply.errorCode), headers);
      return;
    }

    // Validate like the real endpoint does, so that a client sending a bad body sees a 400.
    for (const field of ['model', 'voice', 'input'] as const) {
      if (typeof body?.[field] !== 'string' || !body[field]) {
        send(res, 400, errorBody(400, `'${field}' is required and must be a non-empty string`));
        return;
      }
    }
    const format = body.response_format ?? 'mp3';
    if (format !== 'pcm' && format !== 'wav') {
      send(res, 400, errorBody(400, `the scripted speech server only produces pcm and wav, not ${String(format)}`));
      return;
    }
    const speed = body.speed === undefined ? 1 : Number(body.speed);
    if (!(speed >= 0.25 && speed <= 4)) {
      send(res, 400, errorBody(400, `speed must be between 0.25 and 4, got ${String(body.speed)}`));
      return;
    }

    const pcm = reply.pcm ?? scriptedSpeechPcm(body.input, speed);
    const data = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    const bytes = format === 'wav' ? Buffer.concat([wavHeader(data.length), data]) : data;
    const chunks = splitBytes(bytes, reply.chunkBytes);
    const delay = reply.chunkDelayMs ?? opts.chunkDelayMs ?? 5;
    const untilClosed = <T>(p: PromiseLike<T> | T) => Promise.race([Promise.resolve(p), record.closed]);
    const write = (chunk: Buffer) => untilClosed(new Promise<void>((r) => res.write(chunk, () => r())));

    // No content-length: Node sends `transfer-encoding: chunked`, like the streaming endpoints do.
    res.writeHead(200, { 'content-type': format === 'wav' ? 'audio/wav' : 'audio/pcm', ...headers });
    res.flushHeaders();
    for (let i = 0; i < chunks.length; i++) {
      if (reply.dropAfterChunks !== undefined && i >= reply.dropAfterChunks) {
        dropped = true;
        res.socket?.destroy();
        return;
      }
      if (reply.hangAfterChunks !== undefined && i >= reply.hangAfterChunks) {
        await record.closed;
        return;
      }
      if (i > 0 && delay > 0) await untilClosed(new Promise<void>((r) => setTimeout(r, delay)));
      if (reply.beforeChunk) await untilClosed(reply.beforeChunk(i, record));
      if (isClosed) return;
      record.chunksSent++; // counted before the write so a client can never be ahead of it
      await write(chunks[i]);
      if (isClosed) return;
    }
    if (reply.dropAfterChunks !== undefined && reply.dropAfterChunks >= chunks.length) {
      dropped = true;
      res.socket?.destroy();
      return;
    }
    if (reply.hangAfterChunks !== undefined) {
      await record.closed;
      return;
    }
    res.end(() => (record.finished = true));
  }

  const server = createServer({ noDelay: true }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const route = async () => {
      if (req.method === 'POST' && path === '/v1/audio/speech') return handleSpeech(req, res);
      req.resume();
      send(res, 404, errorBody(404, `no route for ${req.method} ${path}`, 'invalid_request_error', 'unknown_url'));
    };
    route().catch((err) => {
      if (!res.headersSent) send(res, 500, errorBody(500, `scripted speech failed: ${err instanceof Error ? err.message : String(err)}`));
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue(...replies) {
      queue.push(...replies);
    },
    respond(fn) {
      responder = fn;
    },
    waitForRequests(n, timeoutMs = 10_000) {
      if (requests.length >= n) return Promise.resolve(requests.slice());
      return new Promise((resolve, reject) => {
        const w = {
          n,
          resolve: (r: SpeechRequestRecord[]) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`waitForRequests: ${requests.length} of ${n} speech requests after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        shuttingDown = true;
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
