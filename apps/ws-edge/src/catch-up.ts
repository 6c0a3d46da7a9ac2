import { compareStreamIds, decodeEntry, EventEntry, EVENTS_STREAM, KEYS, STREAMS, type FanoutType } from '@chorus/contracts';
import type { RawEntry } from '@chorus/runtime';
import type { Redis } from 'ioredis';

/** The conversation's latest turn as its events stream holds it, up to a given entry. */
export interface LatestTurn {
  turn: EventEntry;
  /** The turn's events after its `turn_started`, oldest first. */
  events: EventEntry[];
  /** Messages whose text started (`text_stream_start` seen). */
  started: Set<string>;
  finished: boolean;
  /** Cancelled by an interrupt or the conversation's deletion (`cancel:{c}`). */
  cancelled: boolean;
}

/** Entries read per step when looking back through `events:{c}` for the latest turn. */
const PAGE = 200;

/** Looks back from `upTo` (an `events:{c}` entry id, included) for the latest `turn_started` and what followed it. */
export async function latestTurn(redis: Redis, conversationId: string, upTo: string): Promise<LatestTurn | null> {
  if (upTo === '0-0') return null;
  const stream = STREAMS.events(conversationId);
  const after: EventEntry[] = [];
  let end = upTo;
  // The stream holds about EVENTS_STREAM.maxLen entries: the look-back is bounded by it too.
  for (let read = 0; read < EVENTS_STREAM.maxLen * 2; read += PAGE) {
    const page = (await redis.xrevrange(stream, end, '-', 'COUNT', PAGE)) as RawEntry[];
    for (const [, fields] of page) {
      let e: EventEntry;
      try {
        e = decodeEntry(EventEntry, fields);
      } catch {
        continue;
      }
      if (e.type !== 'turn_started') {
        after.push(e);
        continue;
      }
      const events = after.reverse().filter((x) => x.turn_id === e.turn_id);
      const cut = await redis.get(KEYS.cancel(conversationId));
      return {
        turn: e,
        events,
        started: new Set(events.filter((x) => x.type === 'text_stream_start' && x.message_id).map((x) => x.message_id!)),
        finished: events.some((x) => x.type === 'turn_finished'),
        cancelled: !!cut && !!e.turn_seq && compareStreamIds(e.turn_seq, cut) < 0,
      };
    }
    if (page.length < PAGE) return null;
    end = `(${page.at(-1)![0]}`;
  }
  return null;
}

/** What a client needs to show a reply under way: its text events (speech is the audio relay's). */
const REPLY_TYPES = new Set<FanoutType>(['turn_started', 'text_stream_start', 'text_chunk', 'text_stream_stop', 'error']);

/**
 * The frames a socket that starts showing a conversation mid-turn missed: the running turn's text from its start,
 * so that its reply shows whole (the messages of a turn join the conversation's history only as it ends). Nothing
 * for a finished or cancelled turn: the history has it.
 */
export function replySoFar(latest: LatestTurn | null): string[] {
  if (!latest || latest.finished || latest.cancelled) return [];
  return [latest.turn, ...latest.events].filter((e) => REPLY_TYPES.has(e.type as FanoutType)).map((e) => JSON.stringify({ type: e.type, data: e.data }));
}
