import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { freePort } from './ports.js';
import { COMMON_ERROR_KINDS, ScriptedServer, type ScriptedErrorKinds, type ScriptedHandle, type ScriptedReplyBase } from './scripted-server.js';

export interface ChatRequestRecord {
  /** The parsed JSON body of `POST /v1/chat/completions`. */
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /** True when the client closed the connection before the reply finished. */
  aborted: boolean;
  /** `Date.now()` when the request body had been read. */
  at: number;
}

/** A scripted chat reply; `status`, the error fields, `headers` and `shouldRetry` come from `ScriptedReplyBase`. */
export type ScriptedReply = ScriptedReplyBase & {
  /**
   * Reply text; split into chunks of ~chunkSize chars unless `chunks` is given.
   * When neither `text` nor `chunks` is given, the default echo text is used (see `echoReplyText`).
   */
  text?: string;
  chunks?: string[];
  /** Default 8. */
  chunkSize?: number;
  /** Delay between content chunks, default 0. A streamed reply with no delays at all is sent in one write. */
  chunkDelayMs?: number;
  /** Delay before the first content chunk (headers and the role delta are sent at once). For a non-streaming reply: delay before the response. */
  firstChunkDelayMs?: number;
  /** Stop sending after N content chunks and keep the connection open until the client aborts (or the server closes). */
  hangAfterChunks?: number;
  /** Destroy the socket after N content chunks (a broken stream). */
  dropAfterChunks?: number;
};

export interface ScriptedLlm extends ScriptedHandle<ChatRequestRecord, ScriptedReply> {
  /**
   * Default responder (used when the queue is empty). Default: reply `I am <name>. <echo of the last
   * user line>.` where <name> is taken from the system message (`You are <Name>` pattern).
   */
  respond(fn: (req: ChatRequestRecord) => ScriptedReply | Promise<ScriptedReply>): void;
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

const ERROR_KIND: ScriptedErrorKinds = {
  ...COMMON_ERROR_KINDS,
  401: ['authentication_error', 'invalid_api_key'],
  404: ['not_found_error', 'model_not_found'],
  408: ['timeout_error', 'timeout'],
  409: ['conflict_error', 'conflict'],
  422: ['invalid_request_error', 'unprocessable_entity'],
};

function estimateTokens(s: string): number {
  return Math.max(1, Math.ceil(s.length / 4));
}

/** Starts a real OpenAI-compatible HTTP server on 127.0.0.1 whose replies the test scripts. */
export async function startScriptedLlm(opts: { port?: number } = {}): Promise<ScriptedLlm> {
  const server = await ScriptedServer.start<ChatRequestRecord, ScriptedReply>({
    port: opts.port,
    name: 'scripted llm',
    noun: 'chat',
    errorKinds: ERROR_KIND,
    routes: {
      'POST /v1/chat/completions': handleChat,
      'GET /v1/models': (req, res, s) => {
        req.resume();
        s.send(res, 200, {
          object: 'list',
          data: [{ id: MODEL_ID, object: 'model', created: 0, owned_by: 'chorus-testkit' }],
        });
      },
    },
  });
  return server.handle;
}

async function handleChat(
  req: IncomingMessage,
  res: ServerResponse,
  server: ScriptedServer<ChatRequestRecord, ScriptedReply>,
): Promise<void> {
  const ex = await server.accept(req, res, (body, r) => ({ body, headers: { ...r.headers }, aborted: false, at: Date.now() }));
  if (!ex) return;
  const { body, reply, headers: extraHeaders, closed } = ex;

  if (reply.status !== undefined && reply.status !== 200) {
    await ex.pause(reply.firstChunkDelayMs);
    if (ex.isClosed) return;
    ex.sendError();
    return;
  }

  const text = reply.chunks ? reply.chunks.join('') : reply.text ?? echoReplyText(body);
  const chunks = reply.chunks ?? splitText(text, reply.chunkSize ?? 8);
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const model = typeof body?.model === 'string' && body.model ? body.model : MODEL_ID;
  const promptTokens = estimateTokens(JSON.stringify(body?.messages ?? ''));
  const usage = { prompt_tokens: promptTokens, completion_tokens: chunks.length, total_tokens: promptTokens + chunks.length };

  if (body?.stream !== true) {
    await ex.pause(reply.firstChunkDelayMs);
    if (ex.isClosed) return;
    if (reply.dropAfterChunks !== undefined) return ex.drop();
    if (reply.hangAfterChunks !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json', ...extraHeaders });
      res.flushHeaders();
      await closed;
      return;
    }
    server.send(
      res,
      200,
      {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage,
        system_fingerprint: null,
      },
      extraHeaders,
    );
    return;
  }

  const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices, ...extra })}\n\n`;

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    ...extraHeaders,
  });
  const role = frame([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
  const content = (i: number) => frame([{ index: 0, delta: { content: chunks[i] }, logprobs: null, finish_reason: null }]);
  const finish =
    frame([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]) +
    (body?.stream_options?.include_usage === true ? frame([], { usage }) : '') +
    'data: [DONE]\n\n';
  const instant = (reply.firstChunkDelayMs ?? 0) <= 0 && (reply.chunkDelayMs ?? 0) <= 0 && reply.dropAfterChunks === undefined && reply.hangAfterChunks === undefined;
  if (instant) {
    // A reply that is ready at once goes out in one write, as a server with the whole reply buffered sends it.
    res.end(role + chunks.map((_, i) => content(i)).join('') + finish);
    return;
  }
  await ex.write(role);
  await ex.pause(reply.firstChunkDelayMs);

  for (let i = 0; i < chunks.length; i++) {
    if (ex.isClosed) return;
    if (reply.dropAfterChunks !== undefined && i >= reply.dropAfterChunks) return ex.drop();
    if (reply.hangAfterChunks !== undefined && i >= reply.hangAfterChunks) {
      await closed;
      return;
    }
    if (i > 0) await ex.pause(reply.chunkDelayMs);
    if (ex.isClosed) return;
    await ex.write(content(i));
  }
  if (ex.isClosed) return;
  if (reply.dropAfterChunks !== undefined) return ex.drop();
  if (reply.hangAfterChunks !== undefined) {
    await closed;
    return;
  }
  res.end(finish);
}

/** An `http://127.0.0.1:<port>/v1` base URL where nothing listens (connection refused). */
export async function unusedUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}/v1`;
}
