import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeWav } from './audio.js';
import {
  COMMON_ERROR_KINDS,
  readBody,
  ScriptedServer,
  type ScriptedErrorKinds,
  type ScriptedHandle,
  type ScriptedRecordBase,
  type ScriptedReplyBase,
} from './scripted-server.js';

export interface TranscriptionRequestRecord extends ScriptedRecordBase {
  /** The text fields of the multipart form (the last value of a repeated field). */
  fields: Record<string, string>;
  model?: string;
  language?: string;
  prompt?: string;
  /** As sent; the server treats a missing one as `json`, like OpenAI. */
  responseFormat?: string;
  /** The uploaded `file` part. */
  file?: { name: string; type: string; bytes: Uint8Array };
  /** From the uploaded file decoded as a 16-bit PCM WAV; unset (and `wavError` set) when it is not one. */
  sampleRate?: number;
  channels?: number;
  /** Samples per channel. */
  sampleCount?: number;
  pcm?: Int16Array;
  wavError?: string;
  headers: Record<string, string | string[] | undefined>;
  /** `Date.now()` when the request body had been read. */
  at: number;
  /** Resolves when the connection of this request closes, for whatever reason. */
  closed: Promise<void>;
}

/** A scripted transcription reply; the error fields, `headers` and `shouldRetry` come from `ScriptedReplyBase`. */
export type ScriptedTranscriptionReply = ScriptedReplyBase & {
  /** The transcript; default the server's `text` option. */
  text?: string;
  /** Non-200 → a JSON error body; OpenAI's `{error: {message, type, code, param}}` unless `body` is given. */
  status?: number;
  /** Raw reply body (an object is sent as JSON, a string as text): the error body, or with 200 the whole reply. */
  body?: unknown;
  /** Wait this long before answering (cut short when the client goes away); default the server's `delayMs`. */
  delayMs?: number;
  /** Accept the request and never answer until the client goes away. */
  hang?: boolean;
};

/** A script entry: a string is the transcript of a 200 reply. */
export type ScriptedTranscriptionScript = string | ScriptedTranscriptionReply;

export interface ScriptedTranscription
  extends Omit<ScriptedHandle<TranscriptionRequestRecord, ScriptedTranscriptionReply>, 'enqueue' | 'respond'> {
  /** Replies used in FIFO order before the responder function. */
  enqueue(...replies: ScriptedTranscriptionScript[]): void;
  /** Default responder (used when the queue is empty); default: the server's `text` option. */
  respond(fn: (req: TranscriptionRequestRecord) => ScriptedTranscriptionScript | Promise<ScriptedTranscriptionScript>): void;
}

export interface ScriptedTranscriptionOptions {
  port?: number;
  /** The transcript when a reply names none. Default `DEFAULT_SCRIPTED_TRANSCRIPT`. */
  text?: string | ((req: TranscriptionRequestRecord) => string);
  /** Default delay before every reply. Default 0. */
  delayMs?: number;
}

export const DEFAULT_SCRIPTED_TRANSCRIPT = 'hello from the scripted transcription server';

const ERROR_KIND: ScriptedErrorKinds = {
  ...COMMON_ERROR_KINDS,
  401: ['invalid_request_error', 'invalid_api_key'],
  404: ['invalid_request_error', 'model_not_found'],
};

const FORMATS = new Set(['json', 'text', 'verbose_json']);

type Form = { fields: Record<string, string>; file?: TranscriptionRequestRecord['file'] };

function toReply(script: ScriptedTranscriptionScript | undefined): ScriptedTranscriptionReply {
  return typeof script === 'string' ? { text: script } : (script ?? {});
}

/**
 * Starts a real OpenAI-compatible `POST /v1/audio/transcriptions` server on 127.0.0.1. It takes the
 * multipart upload, records it (the file decoded as WAV) and answers `json`, `text` or `verbose_json` with
 * the scripted transcript; other formats get a 400. Replies can be scripted with `enqueue` / `respond`.
 */
export async function startScriptedTranscription(opts: ScriptedTranscriptionOptions = {}): Promise<ScriptedTranscription> {
  const server = await ScriptedServer.start<TranscriptionRequestRecord, ScriptedTranscriptionReply>({
    port: opts.port,
    name: 'scripted transcription',
    noun: 'transcription',
    errorKinds: ERROR_KIND,
    routes: { 'POST /v1/audio/transcriptions': (req, res, s) => handleTranscription(req, res, s, opts) },
  });
  const { handle } = server;
  return {
    ...handle,
    get url() {
      return handle.url;
    },
    enqueue: (...replies) => handle.enqueue(...replies.map(toReply)),
    respond: (fn) => handle.respond(async (req) => toReply(await fn(req))),
  };
}

async function parseForm(req: IncomingMessage, raw: Buffer): Promise<Form> {
  const headers = new Headers();
  const type = req.headers['content-type'];
  if (type) headers.set('content-type', type);
  const form = await new Request('http://scripted.invalid/', { method: 'POST', headers, body: new Uint8Array(raw) }).formData();
  const out: Form = { fields: {} };
  let file: File | undefined;
  // forEach: the project's `DOM` lib has no iterable FormData.
  form.forEach((value, name) => {
    if (typeof value === 'string') out.fields[name] = value;
    else if (name === 'file') file = value;
  });
  if (file) out.file = { name: file.name, type: file.type, bytes: new Uint8Array(await file.arrayBuffer()) };
  return out;
}

function makeRecord(form: Form, req: IncomingMessage, closed: Promise<void>): TranscriptionRequestRecord {
  const { fields, file } = form;
  const record: TranscriptionRequestRecord = {
    fields,
    model: fields.model,
    language: fields.language,
    prompt: fields.prompt,
    responseFormat: fields.response_format,
    file,
    headers: { ...req.headers },
    at: Date.now(),
    aborted: false,
    closed,
  };
  if (file) {
    try {
      const wav = decodeWav(file.bytes);
      Object.assign(record, {
        sampleRate: wav.sampleRate,
        channels: wav.channels,
        sampleCount: Math.floor(wav.pcm.length / Math.max(1, wav.channels)),
        pcm: wav.pcm,
      });
    } catch (err) {
      record.wavError = err instanceof Error ? err.message : String(err);
    }
  }
  return record;
}

async function handleTranscription(
  req: IncomingMessage,
  res: ServerResponse,
  server: ScriptedServer<TranscriptionRequestRecord, ScriptedTranscriptionReply>,
  opts: ScriptedTranscriptionOptions,
): Promise<void> {
  const raw = await readBody(req);
  let form: Form;
  try {
    form = await parseForm(req, raw);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    server.send(res, 400, server.errorBody(400, `request body is not valid multipart/form-data: ${why}`));
    return;
  }
  const ex = await server.accept(req, res, (_body, _req, closed) => makeRecord(form, req, closed), { body: form.fields });
  if (!ex) return;
  const { record, reply, headers } = ex;
  const badRequest = (message: string) => server.send(res, 400, server.errorBody(400, message), headers);

  if (reply.hang) {
    await record.closed;
    return;
  }
  await ex.pause(reply.delayMs ?? opts.delayMs);
  if (ex.isClosed) return;
  if (reply.status !== undefined && reply.status !== 200) {
    ex.sendError(reply.body);
    return;
  }

  // Validate like the real endpoint does, so that a client sending a bad form sees a 400.
  if (!record.file) return badRequest("'file' is required");
  if (!record.model) return badRequest("'model' is required and must be a non-empty string");
  const format = record.responseFormat ?? 'json';
  if (!FORMATS.has(format)) return badRequest(`the scripted transcription server only produces json, text and verbose_json, not ${format}`);

  if (reply.body !== undefined) return server.send(res, 200, reply.body, headers);
  const text = reply.text ?? (typeof opts.text === 'function' ? opts.text(record) : (opts.text ?? DEFAULT_SCRIPTED_TRANSCRIPT));
  if (format === 'text') return server.send(res, 200, text, headers);
  if (format === 'json') return server.send(res, 200, { text }, headers);
  const duration = record.sampleRate && record.sampleCount !== undefined ? record.sampleCount / record.sampleRate : 0;
  server.send(
    res,
    200,
    {
      task: 'transcribe',
      language: record.language ?? 'english',
      duration,
      text,
      segments: [{ id: 0, seek: 0, start: 0, end: duration, text, tokens: [], temperature: 0, avg_logprob: 0, compression_ratio: 1, no_speech_prob: 0 }],
    },
    headers,
  );
}
