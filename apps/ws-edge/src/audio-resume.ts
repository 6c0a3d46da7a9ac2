import { AudioChunk, AudioResumeQuery, decodeEntry, STREAMS, type EventEntry } from '@chorus/contracts';
import type { RawEntry } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import type { Awaited, Expected } from './audio-relay.js';
import type { LatestTurn } from './catch-up.js';
import { echoOf } from './echo.js';
import { describeIssues } from './router.js';

/**
 * The socket URL's audio resume hint (`AudioResumeQuery`: what a reconnecting client has of the speech): none,
 * a valid one, or why it was ignored. It is only a hint: without it the speech still due is played.
 */
export function resumeHint(query: URLSearchParams): { hint?: AudioResumeQuery; error?: string } {
  const given = Object.fromEntries(Object.keys(AudioResumeQuery.shape).filter((k) => query.has(k)).map((k) => [k, query.get(k)]));
  if (!Object.keys(given).length) return {};
  const parsed = AudioResumeQuery.safeParse(given);
  if (parsed.success) return { hint: parsed.data };
  return { error: `The socket URL's audio resume hint was ignored (${describeIssues(parsed.error)}); speech still due plays from its start.` };
}

/** A message of the latest turn whose speech the joining socket should get, from `skipMs` into its audio. */
export type Resumable = Awaited & { textStarted: boolean; skipMs: number };

/** A turn this old (since its `turn_started`) is not resumed for a client whose hint names an older message. */
export const RESUME_MAX_AGE_MS = 120_000;

/** The turn's messages that will be spoken (a responder without a voice has text only). */
export function spoken(e: EventEntry, turn_seq: string): Expected[] {
  const responders = (e.data.responders ?? []) as Array<{ message_id: string; character_id: string; character_name: string; voice_id?: string | null }>;
  return responders
    .filter((r) => r.voice_id)
    .map((r) => ({ message_id: r.message_id, character_id: r.character_id, character_name: r.character_name, turn_id: e.turn_id, turn_seq, echo: echoOf(e) }));
}

/**
 * The speech a socket that starts following a conversation should get, given the conversation's `latest` turn up
 * to where the socket's events begin: that turn's spoken messages from where the client's hint says it was, or,
 * without one (or one from an earlier turn), those whose audio is still to come. Nothing for a cancelled turn.
 */
export async function resumableSpeech(redis: Redis, conversationId: string, latest: LatestTurn | null, hint: AudioResumeQuery | undefined, now = Date.now()): Promise<Resumable[]> {
  if (!latest?.turn.turn_seq || latest.cancelled) return [];
  const plan = spoken(latest.turn, latest.turn.turn_seq);
  const audio = await Promise.all(plan.map((m) => audioState(redis, STREAMS.audio(conversationId, m.message_id))));
  const at = hint ? plan.findIndex((m) => m.message_id === hint.audio_message_id) : -1;
  const recent = now - latest.turn.ts <= RESUME_MAX_AGE_MS;
  const out: Resumable[] = [];
  plan.forEach((m, i) => {
    const a = audio[i]!;
    const textStarted = latest.started.has(m.message_id) || a !== 'none';
    // Audio that will never come: the turn ended before its text (or the stream expired).
    if (a === 'none' && latest.finished) return;
    if (at >= 0) {
      if (i >= at) out.push({ ...m, textStarted, skipMs: i === at ? hint!.audio_received_ms : 0 });
    } else if (a !== 'ended' || (hint && recent)) {
      // A client that received none of this turn hears all of it while it is recent; a new one, what is still to come.
      out.push({ ...m, textStarted, skipMs: 0 });
    }
  });
  return out;
}

/** Whether a message's audio stream is missing, has begun, or has its end marker. */
async function audioState(redis: Redis, stream: string): Promise<'none' | 'begun' | 'ended'> {
  const last = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as RawEntry[];
  if (!last.length) return 'none';
  try {
    return decodeEntry(AudioChunk, last[0]![1]).final ? 'ended' : 'begun';
  } catch {
    return 'begun';
  }
}
