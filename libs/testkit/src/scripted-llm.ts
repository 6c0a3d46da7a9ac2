import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from './ports.js';

export interface ChatRequestRecord {
  /** The parsed JSON body of `POST /v1/chat/completions`. */
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /** True when the client closed the connection before the reply finished. */
  aborted: boolean;
  /** `Date.now()` when the request body had been read. */
  at: number;
}

export type ScriptedReply = {
  /** Non-200 → JSON error body `{error: {message, type, code}}` with this status. */
  status?: number;
  errorMessage?: string;
  /** Overrides the error `type` derived from the status (e.g. `rate_limit_error`). */
  errorType?: string;
  /** Overrides the error `code` derived from the status. */
  errorCode?: string | null;
  /**
   * Reply text; split into chunks of ~chunkSize chars unless `chunks` is given.
   * When neither `text` nor `chunks` is given, the default echo text is used (see `echoReplyText`).
   */
  text?: string;
  chunks?: string[];
  /** Default 8. */
  chunkSize?: number;
  /** Delay between content chunks, default 0. */
  chunkDelayMs?: number;
  /** Delay before the first content chunk (headers and the role delta are sent at once). For a non-streaming reply: delay before the response. */
  firstChunkDelayMs?: number;
  /** Stop sending after N content chunks and keep the connection open until the client aborts (or the server closes). */
  hangAfterChunks?: number;
  /** Destroy the socket after N content chunks (a broken stream). */
  dropAfterChunks?: number;
  /** Extra response headers (e.g. `{'retry-after-ms': '0'}`). */
  headers?: Record<string, string>;
  /** Sets `x-should-retry: true|false`, which the openai client obeys instead of its own retry rules. */
  shouldRetry?: boolean;
};

export interface ScriptedLlm {
  /** Base URL including /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  /** Every chat completion request, in arrival order. */
  requests: ChatRequestRecord[];
  /** Replies used in FIFO order before the responder function. */
  enqueue(...replies: ScriptedReply[]): void;
  /**
   * Default responder (used when the queue is empty). Default: reply `I am <name>. <echo of the last
   * user line>.` where <name> is taken from the system message (`You are <Name>` pattern).
   */
  respond(fn: (req: ChatRequestRecord) => ScriptedReply | Promise<ScriptedReply>): void;
  /** Resolves with (a copy of) all requests once at least `n` have arrived; rejects after timeoutMs (default 10000). */
  waitForRequests(n: number, timeoutMs?: number): Promise<ChatRequestRecord[]>;
  close(): Promise<void>;
}

const MODEL_ID = 'scripted-model';

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (typeof p === 'string' ? p : p && typeof p === 'object' && typeof (p as any).text === 'string' ? (p as any).text : ''))
      .join('');
  }
  return '';
}

/**
 * The default reply: `I am <Name>. <last user line>.` — <Name> from the first system/developer message
 * matching `You are <Name>` (capitalised words), else `Assistant`; the last non-empty line of the last
 * user message, its trailing `.!?` dropped.
 */
export function echoReplyText(body: any): string {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  let name = 'Assistant';
  for (const m of messages) {
    if (m?.role !== 'system' && m?.role !== 'developer') continue;
    const match = /\bYou are ((?:[A-Z][\p{L}\p{N}_'-]*)(?: [A-Z][\p{L}\p{N}_'-]*)*)/u.exec(contentText(m.content));
    if (match) {
      name = match[1];
      break;
    }
  }
  const lastUser = [...messages].reverse().find((m) => m?.role === 'user');
  const lines = contentText(lastUser?.content)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  const echo = (lines[lines.length - 1] ?? '').replace(/[\s.!?]+$/u, '');
  return echo ? `I am ${name}. ${echo}.` : `I am ${name}.`;
}

function splitText(text: string, size: number): string[] {
  const chars = Array.from(text);
  const out: string[] = [];
  const n = Math.max(1, Math.floor(size));
  for (let i = 0; i < chars.length; i += n) out.push(chars.slice(i, i + n).join(''));
  return out;
}

const ERROR_KIND: Record<number, [type: string, code: string]> = {
  400: ['invalid_request_error', 'invalid_request'],
  401: ['authentication_error', 'invalid_api_key'],
  403: ['permission_error', 'permission_denied'],
  404: ['not_found_error', 'model_not_found'],
  408: ['timeout_error', 'timeout'],
  409: ['conflict_error', 'conflict'],
  422: ['invalid_request_error', 'unprocessable_entity'],
  429: ['rate_limit_error', 'rate_limit_exceeded'],
};

function errorBody(status: number, message: string, type?: string, code?: string | null) {
  const [dType, dCode] = ERROR_KIND[status] ?? (status >= 500 ? ['server_error', 'server_error'] : ['invalid_request_error', 'error']);
  return { error: { message, type: type ?? dType, code: code === undefined ? dCode : code, param: null } };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers });
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

function estimateTokens(s: string): number {
  return Math.max(1, Math.ceil(s.length / 4));
}

/** Starts a real OpenAI-compatible HTTP server on 127.0.0.1 whose replies the test scripts. */
export async function startScriptedLlm(opts: { port?: number } = {}): Promise<ScriptedLlm> {
  const requests: ChatRequestRecord[] = [];
  const queue: ScriptedReply[] = [];
  let responder: (req: ChatRequestRecord) => ScriptedReply | Promise<ScriptedReply> = () => ({});
  const waiters = new Set<{ n: number; resolve: (r: ChatRequestRecord[]) => void }>();
  let shuttingDown = false;

  const notify = () => {
    for (const w of waiters) {
      if (requests.length >= w.n) {
        waiters.delete(w);
        w.resolve(requests.slice());
      }
    }
  };

  async function handleChat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      sendJson(res, 400, errorBody(400, 'request body is not valid JSON'));
      return;
    }
    const record: ChatRequestRecord = { body, headers: { ...req.headers }, aborted: false, at: Date.now() };

    // Closure tracking: `closed` resolves when the response/socket closes for whatever reason.
    let dropped = false;
    let isClosed = false;
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    res.once('close', () => {
      isClosed = true;
      if (!res.writableFinished && !dropped && !shuttingDown) record.aborted = true;
      markClosed();
    });

    requests.push(record);
    notify();

    let reply: ScriptedReply;
    try {
      reply = queue.length > 0 ? queue.shift()! : await responder(record);
    } catch (err) {
      reply = { status: 500, errorMessage: `scripted responder threw: ${err instanceof Error ? err.message : String(err)}` };
    }
    reply ??= {};
    if (isClosed) return;

    const extraHeaders: Record<string, string> = { ...(reply.headers ?? {}) };
    if (reply.shouldRetry !== undefined) extraHeaders['x-should-retry'] = String(reply.shouldRetry);

    const pause = (ms: number | undefined) =>
      ms && ms > 0 ? Promise.race([new Promise<void>((r) => setTimeout(r, ms)), closed]) : Promise.resolve();

    if (reply.status !== undefined && reply.status !== 200) {
      await pause(reply.firstChunkDelayMs);
      if (isClosed) return;
      const message = reply.errorMessage ?? `scripted error (status ${reply.status})`;
      sendJson(res, reply.status, errorBody(reply.status, message, reply.errorType, reply.errorCode), extraHeaders);
      return;
    }

    const text = reply.chunks ? reply.chunks.join('') : reply.text ?? echoReplyText(body);
    const chunks = reply.chunks ?? splitText(text, reply.chunkSize ?? 8);
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof body?.model === 'string' && body.model ? body.model : MODEL_ID;
    const promptTokens = estimateTokens(JSON.stringify(body?.messages ?? ''));
    const usage = { prompt_tokens: promptTokens, completion_tokens: chunks.length, total_tokens: promptTokens + chunks.length };
    const drop = () => {
      dropped = true;
      res.socket?.destroy();
    };

    if (body?.stream !== true) {
      await pause(reply.firstChunkDelayMs);
      if (isClosed) return;
      if (reply.dropAfterChunks !== undefined) return drop();
      if (reply.hangAfterChunks !== undefined) {
        res.writeHead(200, { 'content-type': 'application/json', ...extraHeaders });
        res.flushHeaders();
        await closed;
        return;
      }
      sendJson(
        res,
        200,
        {
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            { index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' },
          ],
          usage,
          system_fingerprint: null,
        },
        extraHeaders,
      );
      return;
    }

    const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices, ...extra })}\n\n`;
    const write = (data: string) =>
      Promise.race([new Promise<void>((r) => res.write(data, () => r())), closed]);

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...extraHeaders,
    });
    await write(frame([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
    await pause(reply.firstChunkDelayMs);

    for (let i = 0; i < chunks.length; i++) {
      if (isClosed) return;
      if (reply.dropAfterChunks !== undefined && i >= reply.dropAfterChunks) return drop();
      if (reply.hangAfterChunks !== undefined && i >= reply.hangAfterChunks) {
        await closed;
        return;
      }
      if (i > 0) await pause(reply.chunkDelayMs);
      if (isClosed) return;
      await write(frame([{ index: 0, delta: { content: chunks[i] }, logprobs: null, finish_reason: null }]));
    }
    if (isClosed) return;
    if (reply.dropAfterChunks !== undefined) return drop();
    if (reply.hangAfterChunks !== undefined) {
      await closed;
      return;
    }
    await write(frame([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]));
    if (body?.stream_options?.include_usage === true) await write(frame([], { usage }));
    if (isClosed) return;
    res.end('data: [DONE]\n\n');
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const route = async () => {
      if (req.method === 'POST' && path === '/v1/chat/completions') return handleChat(req, res);
      if (req.method === 'GET' && path === '/v1/models') {
        req.resume();
        return sendJson(res, 200, {
          object: 'list',
          data: [{ id: MODEL_ID, object: 'model', created: 0, owned_by: 'chorus-testkit' }],
        });
      }
      req.resume();
      sendJson(res, 404, errorBody(404, `no route for ${req.method} ${path}`, 'invalid_request_error', 'unknown_url'));
    };
    route().catch((err) => {
      if (!res.headersSent) sendJson(res, 500, errorBody(500, `scripted llm failed: ${err instanceof Error ? err.message : String(err)}`));
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
          resolve: (r: ChatRequestRecord[]) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`waitForRequests: ${requests.length} of ${n} chat requests after ${timeoutMs} ms`));
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

/** An `http://127.0.0.1:<port>/v1` base URL where nothing listens (connection refused). */
export async function unusedUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/v1`;
}
