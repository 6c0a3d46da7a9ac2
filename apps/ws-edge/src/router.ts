import { clientData, Envelope, isClientType, MAX_FRAME_BYTES, type ClientType, type ErrorCode } from '@chorus/contracts';
import { StoreError } from '@chorus/store';
import type { z } from 'zod';
import type { EdgeServices, HandlerTable, RequestContext } from './context.js';
import { micFrame } from './handlers/voice.js';
import type { Session } from './session.js';

/** Turns zod issues into one readable line: `text: Too big: expected string to have <=8000 characters`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** Whether any string (or key) of a parsed JSON value holds an unpaired UTF-16 surrogate. */
function hasLoneSurrogate(value: unknown): boolean {
  const todo = [value]; // a loop, not recursion: frames may nest thousands of levels
  while (todo.length) {
    const v = todo.pop();
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return true;
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (!k.isWellFormed()) return true;
        todo.push(x);
      }
    }
  }
  return false;
}

/**
 * Validates a socket frame and dispatches it to its handler. Bad input is answered with `error` and the
 * connection stays open; a handler's failure never reaches other sessions.
 */
export class Router {
  constructor(
    private readonly svc: EdgeServices,
    private readonly handlers: HandlerTable,
  ) {}

  onFrame(session: Session, raw: Buffer, isBinary: boolean): void {
    const fail = (code: ErrorCode, message: string, id?: string, requestType?: string) => {
      this.svc.metrics.emit({ kind: 'client_error', code });
      session.send('error', { code, message, ...(requestType ? { request_type: requestType } : {}) }, id);
    };
    if (raw.length > MAX_FRAME_BYTES) return this.tooLarge(session, raw.length);
    if (isBinary) {
      // Queued like requests, so frames sent right after start_listening belong to it.
      return session.enqueue(async () => {
        const refused = micFrame(session, raw);
        if (refused) fail('invalid_audio', refused);
      });
    }
    let json: unknown;
    const text = raw.toString('utf8');
    try {
      json = JSON.parse(text);
    } catch {
      return fail('invalid_json', 'Frame is not valid JSON.');
    }
    // Only a \u escape can make one; Redis's JSON, PostgreSQL and clients all refuse text that holds it.
    if (text.includes('\\u') && hasLoneSurrogate(json)) {
      return fail('invalid_message', 'Frame holds a lone UTF-16 surrogate (a \\uD800–\\uDFFF escape without its pair): not valid Unicode text.');
    }
    const env = Envelope.safeParse(json);
    if (!env.success) {
      // What is usable of a bad envelope still ties the error to its request (PROTOCOL: replies echo `id`).
      const o = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
      const id = Envelope.shape.id.safeParse(o.id);
      const type = Envelope.shape.type.safeParse(o.type);
      return fail('invalid_message', `Not a message envelope: ${describeIssues(env.error)}`, id.success ? id.data : undefined, type.success ? type.data : undefined);
    }
    const { type, data, id } = env.data;
    if (!isClientType(type)) return fail('unknown_type', `Unknown message type "${type}".`, id, type);
    const parsed = clientData[type].safeParse(data);
    if (!parsed.success) return fail('invalid_message', `Invalid ${type}: ${describeIssues(parsed.error)}`, id, type);
    this.svc.metrics.emit({ kind: 'client_message', type });
    session.enqueue(() => this.dispatch(session, type, parsed.data, id));
  }

  /** Refuses a frame over the limit (known by its size only). */
  tooLarge(session: Session, bytes: number): void {
    this.svc.metrics.emit({ kind: 'client_error', code: 'too_large' });
    session.send('error', { code: 'too_large', message: `Frame of ${bytes} bytes is over the ${MAX_FRAME_BYTES}-byte limit.` });
  }

  private async dispatch(session: Session, type: ClientType, data: unknown, id: string | undefined): Promise<void> {
    const ctx: RequestContext = {
      ...this.svc,
      session,
      requestType: type,
      requestId: id,
      reply: (t, d) => session.send(t, d, id),
      fail: (code, message) => {
        this.svc.metrics.emit({ kind: 'client_error', code });
        session.send('error', { code, message, request_type: type }, id);
      },
    };
    try {
      await (this.handlers[type] as (c: RequestContext, d: unknown) => Promise<void> | void)(ctx, data);
    } catch (err) {
      if (err instanceof StoreError) {
        session.send('db_error', { error: err.message, request_type: type }, id);
      } else {
        this.svc.logger.error({ err, type, session: session.id }, 'handler failed');
        ctx.fail('internal', `The server could not handle ${type}: ${String((err as Error)?.message ?? err)}`);
      }
    }
  }
}
