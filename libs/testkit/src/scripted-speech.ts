import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  COMMON_ERROR_KINDS,
  ScriptedServer,
  type ScriptedErrorKinds,
  type ScriptedHandle,
  type ScriptedRecordBase,
  type ScriptedReplyBase,
} from './scripted-server.js';

export interface SpeechRequestRecord extends ScriptedRecordBase {
  /** The parsed JSON body of `POST /v1/audio/speech`. */
  body: any;
  headers: Record<string, string | string[] | undefined>;
  /** `Date.now()` when the request body had been read. */
  at: number;
  /** Audio chunks written so far (0 for error replies). */
  chunksSent: number;
  /** True once the whole reply has been written. */
  finished: boolean;
  /** Resolves when the connection of this request closes, for whatever reason. */
  closed: Promise<void>;
}

/** A scripted speech reply; the error fields, `headers` and `shouldRetry` come from `ScriptedReplyBase`. */
export type ScriptedSpeechReply = ScriptedReplyBase & {
  /** Non-200 → a JSON error body; OpenAI's `{error: {message, type, code, param}}` unless `body` is given. */
  status?: number;
  /** Raw reply body for a scripted status: an object is sent as JSON, a string as text. */
  body?: unknown;
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
};

export interface ScriptedSpeech extends ScriptedHandle<SpeechRequestRecord, ScriptedSpeechReply> {
  /** Default responder (used when the queue is empty); default `{}`: the tone of `scriptedSpeechPcm`. */
  respond(fn: (req: SpeechRequestRecord) => ScriptedSpeechReply | Promise<ScriptedSpeechReply>): void;
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

const ERROR_KIND: ScriptedErrorKinds = {
  ...COMMON_ERROR_KINDS,
  401: ['invalid_request_error', 'invalid_api_key'],
  404: ['invalid_request_error', 'model_not_found'],
};

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
  const server = await ScriptedServer.start<SpeechRequestRecord, ScriptedSpeechReply>({
    port: opts.port,
    name: 'scripted speech',
    noun: 'speech',
    errorKinds: ERROR_KIND,
    routes: { 'POST /v1/audio/speech': (req, res, s) => handleSpeech(req, res, s, opts.chunkDelayMs ?? 5) },
  });
  return server.handle;
}

async function handleSpeech(
  req: IncomingMessage,
  res: ServerResponse,
  server: ScriptedServer<SpeechRequestRecord, ScriptedSpeechReply>,
  defaultChunkDelayMs: number,
): Promise<void> {
  const ex = await server.accept(req, res, (body, r, closed) => ({
    body,
    headers: { ...r.headers },
    at: Date.now(),
    chunksSent: 0,
    finished: false,
    aborted: false,
    closed,
  }));
  if (!ex) return;
  const { body, record, reply, headers } = ex;
  const badRequest = (message: string) => server.send(res, 400, server.errorBody(400, message));

  if (reply.hang) {
    await record.closed;
    return;
  }
  if (reply.status !== undefined && reply.status !== 200) {
    ex.sendError(reply.body);
    return;
  }

  // Validate like the real endpoint does, so that a client sending a bad body sees a 400.
  for (const field of ['model', 'voice', 'input'] as const) {
    if (typeof body?.[field] !== 'string' || !body[field]) {
      badRequest(`'${field}' is required and must be a non-empty string`);
      return;
    }
  }
  const format = body.response_format ?? 'mp3';
  if (format !== 'pcm' && format !== 'wav') {
    badRequest(`the scripted speech server only produces pcm and wav, not ${String(format)}`);
    return;
  }
  const speed = body.speed === undefined ? 1 : Number(body.speed);
  if (!(speed >= 0.25 && speed <= 4)) {
    badRequest(`speed must be between 0.25 and 4, got ${String(body.speed)}`);
    return;
  }

  const pcm = reply.pcm ?? scriptedSpeechPcm(body.input, speed);
  const data = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const bytes = format === 'wav' ? Buffer.concat([wavHeader(data.length), data]) : data;
  const chunks = splitBytes(bytes, reply.chunkBytes);
  const delay = reply.chunkDelayMs ?? defaultChunkDelayMs;

  // No content-length: Node sends `transfer-encoding: chunked`, like the streaming endpoints do.
  res.writeHead(200, { 'content-type': format === 'wav' ? 'audio/wav' : 'audio/pcm', ...headers });
  res.flushHeaders();
  for (let i = 0; i < chunks.length; i++) {
    if (reply.dropAfterChunks !== undefined && i >= reply.dropAfterChunks) return ex.drop();
    if (reply.hangAfterChunks !== undefined && i >= reply.hangAfterChunks) {
      await record.closed;
      return;
    }
    if (i > 0 && delay > 0) await ex.pause(delay);
    if (reply.beforeChunk) await ex.untilClosed(reply.beforeChunk(i, record));
    if (ex.isClosed) return;
    record.chunksSent++; // counted before the write so a client can never be ahead of it
    await ex.write(chunks[i]);
    if (ex.isClosed) return;
  }
  if (reply.dropAfterChunks !== undefined && reply.dropAfterChunks >= chunks.length) return ex.drop();
  if (reply.hangAfterChunks !== undefined) {
    await record.closed;
    return;
  }
  res.end(() => (record.finished = true));
}
