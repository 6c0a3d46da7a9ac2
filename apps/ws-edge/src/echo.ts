import type { Session } from './session.js';

/** The request a worker's event answers: its socket gets the event with the request's `id` (PROTOCOL: replies echo it). */
export interface Echo {
  session_id: string;
  request_id: string;
}

/** The echo an entry carries: none unless it answers a request that had an id. */
export function echoOf(e: { session_id?: string; request_id?: string }): Echo | undefined {
  return e.session_id !== undefined && e.request_id !== undefined ? { session_id: e.session_id, request_id: e.request_id } : undefined;
}

/**
 * Sends one message to every socket: the socket whose request caused it gets it with that request's `id`. `after` runs per socket right after its frame (the binary frame of an `audio_chunk`).
 */
export function sendToAll(sessions: Iterable<Session>, type: string, data: unknown, echo?: Echo, after?: (s: Session) => void): void {
  const json = JSON.stringify({ type, data });
  for (const s of sessions) {
    // With the id only for the socket that asked, which is on one edge of many: serialized only where it is.
    s.sendJson(echo && s.id === echo.session_id ? JSON.stringify({ type, data, id: echo.request_id }) : json);
    after?.(s);
  }
}
