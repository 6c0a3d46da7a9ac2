import { decodeEntry, KEYS, SentenceEntry, STREAMS, type SpeakEntry } from '@chorus/contracts';
import { CancelWatch, linkedSignal, type EntryMeta, type Logger, type MetricsBus, type RawEntry, type ReaderPool } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import { AudioOut } from './audio-out.js';
import { stageDirections, type Catalog } from './catalog.js';
import type { EngineSet } from './engines/index.js';
import { toSpeechText } from './speech-text.js';
import { speakSentence, usableEngine } from './synthesize.js';

export interface SpeakOptions {
  /** Output rate; 0 = the engine's own rate. */
  sampleRate: number;
  /** Longest chunk, and the first chunk of each sentence (ms). */
  chunkMs: number;
  firstChunkMs: number;
  audioTtlSec: number;
  /** A message whose sentences stop coming for this long is ended (ms). */
  sentenceWaitMs: number;
  skipStageDirections: boolean;
  /** XREAD BLOCK per read; bounds how late a stop or an interrupt is noticed while idle (default 500 ms). */
  blockMs?: number;
}

export interface SpeakDeps {
  redis: Redis;
  readers: ReaderPool;
  engines: EngineSet;
  catalog: Catalog;
  cancels: CancelWatch;
  metrics: MetricsBus;
  logger: Logger;
  o: SpeakOptions;
}

/** Where a message's speech stands, kept in Redis so another worker can continue it after a crash. */
interface Progress {
  attempt: number;
  /** Index of the last sentence finished (of that attempt), -1 for none. */
  index: number;
  /** Spoken sentences so far: the audio `sentence_index` of the next one. */
  seq: number;
  /** Sentence stream id to read after. */
  lastId: string | null;
}

/**
 * Speaks one message: follows its sentences in `sentence:{c}` until the message's end marker, cleans
 * each for speech, synthesizes it with the voice's engine and writes PCM chunks to `audio:{c}:<message>`,
 * recording progress after every sentence. Ends with the end-of-message marker — also when the voice is
 * unusable (an `error` event says why; the text still reaches the client) or the turn is interrupted.
 */
export async function speakMessage(deps: SpeakDeps, job: SpeakEntry, meta: EntryMeta): Promise<void> {
  const c = job.conversation_id;
  const progressKey = KEYS.ttsProgress(c, job.message_id);
  const log = deps.logger.child({ conversation_id: c, message_id: job.message_id });
  const watch = deps.cancels.watch(c, job.turn_seq);
  const linked = linkedSignal(watch.signal, meta.signal);
  const signal = linked.signal;
  const out = AudioOut.forMessage(deps.redis, job, { audioTtlSec: deps.o.audioTtlSec });
  try {
    const reads = Promise.all([
      out.batch.send<Record<string, string>>('hgetall', [progressKey]),
      out.batch.send<string | null>('get', [KEYS.cancel(c)]),
    ]);
    out.batch.sendNow(); // the message's first read goes out at once, not at the end of the loop turn
    const [rawProgress, cut] = await reads;
    const saved = parseProgress(rawProgress);
    if (saved && saved.attempt > job.attempt) return; // a later attempt of the turn has taken over this message
    const p: Progress =
      saved?.attempt === job.attempt
        ? saved
        : { attempt: job.attempt, index: -1, seq: saved?.seq ?? 0, lastId: null };
    const { voice, character } = await deps.catalog.cast(job.voice_id ?? '', job.character_id);
    const engine = voice ? usableEngine(deps.engines, voice, out) : noVoice(out, job);
    const rate = deps.o.sampleRate || (engine && voice ? engine.sampleRate(voice) : 16000);
    if (!CancelWatch.cancels(cut, job.turn_seq)) {
      const speak = async (e: SentenceEntry) => {
        if (!engine || !voice) return;
        const text = toSpeechText(e.text, { stageDirections: stageDirections(character, deps.o.skipStageDirections) });
        if (!text) return;
        if (await speakSentence(deps, { out, engine, voice, rate, text, written: e.text, seq: p.seq, signal, queuedAt: e.ts, log })) p.seq++;
      };
      await followSentences(deps, job, meta.id, p, signal, speak, (id) => {
        out.batch.send('hset', [progressKey, 'attempt', p.attempt, 'index', p.index, 'seq', p.seq, 'last_id', id]);
        out.batch.send('expire', [progressKey, deps.o.audioTtlSec]);
      });
    }
    // Stopping: no end marker; the entry stays pending and another worker continues from the progress.
    if (meta.signal.aborted) throw new Error('worker stopping');
    out.end(p.seq, rate);
    out.batch.send('del', [progressKey]);
    await out.flush();
  } finally {
    linked.dispose();
    watch.dispose();
  }
}

function parseProgress(h: Record<string, string>): Progress | null {
  if (!h || !h.attempt) return null;
  return { attempt: Number(h.attempt), index: Number(h.index ?? -1), seq: Number(h.seq ?? 0), lastId: h.last_id ?? null };
}

/** A character whose voice is gone: says so in an `error` event; the reply stays text only. */
function noVoice(out: AudioOut, job: SpeakEntry): undefined {
  out.error('tts_voice_invalid', `${job.character_name}'s voice "${job.voice_id}" does not exist; the reply is shown as text only. Pick another voice for ${job.character_name}.`);
  return undefined;
}

/**
 * Reads the message's sentences of this attempt in order, calling `speak` for each one not yet done and
 * `done(id)` after it; returns at the end marker, on cancel/stop, when a later attempt of the turn
 * appears, or when no sentence came for `sentenceWaitMs`.
 */
async function followSentences(
  deps: SpeakDeps,
  job: SpeakEntry,
  jobId: string,
  p: Progress,
  signal: AbortSignal,
  speak: (e: SentenceEntry) => Promise<void>,
  done: (id: string) => void,
): Promise<void> {
  const key = STREAMS.sentence(job.conversation_id);
  // Sentences are written after the speak entry (same Redis clock): start just before its millisecond.
  let lastId = p.lastId ?? `${Math.max(0, Number(jobId.split('-')[0]) - 1)}-0`;
  let lastSeen = Date.now();
  const conn = deps.readers.acquire();
  try {
    while (!signal.aborted) {
      const res = (await conn.xread('COUNT', 100, 'BLOCK', deps.o.blockMs ?? 500, 'STREAMS', key, lastId)) as Array<[string, RawEntry[]]> | null;
      if (!res) {
        if (Date.now() - lastSeen > deps.o.sentenceWaitMs) return;
        continue;
      }
      for (const [id, fields] of res[0]![1]) {
        lastId = id;
        let e: SentenceEntry;
        try {
          e = decodeEntry(SentenceEntry, fields);
        } catch {
          continue;
        }
        if (e.message_id !== job.message_id || e.attempt < job.attempt) continue;
        if (e.attempt > job.attempt) return; // the turn was taken over: that attempt's job speaks on
        lastSeen = Date.now();
        if (e.final) return;
        if (e.index <= p.index) continue; // finished before a crash
        await speak(e);
        if (signal.aborted) return;
        p.index = e.index;
        done(id);
      }
    }
  } finally {
    deps.readers.release(conn);
  }
}
