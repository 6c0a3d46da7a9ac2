import { randomUUID } from 'node:crypto';
import { StreamingResampler, base64ToPcm16 } from '@chorus/audio';
import { decodeEntry, KEYS, MicEntry, STREAMS, type ListenEntry } from '@chorus/contracts';
import type { EntryMeta, Logger, MetricsBus, RawEntry, ReaderPool } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import type { SttEngine, SttStream } from './engines/engine.js';
import { startRecognition } from './recognition.js';
import { Transcript, type TranscriptLimits } from './transcript.js';
import { soundsFinished } from './turn-end.js';
import { SileroVad, VAD_SAMPLE_RATE, type SileroVadOptions, type VadEvent } from './vad.js';
import type { Vocabulary } from './vocabulary.js';

export interface ListenOptions {
  vad: SileroVadOptions;
  /** A session without any frame for this long is over (its edge is gone) (ms). */
  idleMs: number;
  /** Speech must last this long before `speech_started` (barge-in) is announced (ms). */
  bargeInMs: number;
  /**
   * Once the engine has fixed the text of everything said, this much silence ends the turn, without waiting
   * for the VAD's whole end silence (ms; 0 = off). Engines that never fix text (no `stream`) are unaffected.
   */
  earlyEndMs: number;
  /** Partials by re-transcription for engines without incremental recognition (ms; 0 = off). */
  partialMs: number;
  /** XREAD BLOCK per read; bounds how late a shutdown is noticed while idle (default 500 ms). */
  blockMs?: number;
  /** How often the resume point is saved while no utterance is open (default 1000 ms). */
  progressEveryMs?: number;
}

export interface ListenDeps {
  redis: Redis;
  readers: ReaderPool;
  engine: SttEngine;
  vocabulary: Vocabulary;
  metrics: MetricsBus;
  logger: Logger;
  limits: TranscriptLimits;
  o: ListenOptions;
}

/** An utterance being spoken or recognised. */
interface Utterance {
  turnId: string;
  messageId: string;
  recognition: SttStream;
  startMs: number;
  /** Mic entry id just before the utterance's audio (pre-pad included): where a takeover re-reads from. */
  resumeId: string;
  announced: boolean;
  /** The characters' names when it started (vocabulary, and turn-end judgement). */
  names: string[];
  /** Text the engine fixed while the user was silent, and the VAD's last speech end at that moment. */
  settled?: { text: string; speechEndMs: number };
  /** An early end was asked of the VAD. */
  ending?: boolean;
}

/** What the user is told when an utterance could not be transcribed (the engine's errors say what to check). */
function failureMessage(engine: string, err: unknown): string {
  const detail = String((err as Error)?.message ?? err).trim();
  return `Your last utterance could not be transcribed (${engine} speech engine): ${/[.?!]$/.test(detail) ? detail : `${detail}.`} If this keeps happening, check the stt-worker's STT_ENGINE settings and its log.`;
}

/** Ids of recent mic entries and where their audio ends (ms into the session), to map VAD times to ids. */
class FrameIds {
  private readonly ids: Array<[string, number]> = [];
  constructor(private readonly keep: number) {}
  add(id: string, endMs: number): void {
    this.ids.push([id, endMs]);
    if (this.ids.length > this.keep) this.ids.shift();
  }
  /** The last entry whose audio ended at or before `ms` (else the oldest known start). */
  before(ms: number, fallback: string): string {
    let found = fallback;
    for (const [id, end] of this.ids) if (end <= ms) found = id;
    return found;
  }
}

/**
 * Serves one listening session (session affinity: this worker holds its `listen` entry until the end
 * marker): reads its microphone frames in order, resamples to 16 kHz, runs the VAD, recognises each
 * utterance while it is spoken, and writes partials, `speech_started` and the final voice turn. The
 * resume point (start of the oldest unfinished utterance) is saved in Redis, so a worker that takes the
 * session over after a crash transcribes the interrupted utterance again instead of losing it.
 */
export async function listenSession(deps: ListenDeps, session: ListenEntry, meta: EntryMeta): Promise<void> {
  const c = session.conversation_id;
  const key = STREAMS.mic(c, session.listen_id);
  const progressKey = KEYS.sttProgress(c, session.listen_id);
  const log = deps.logger.child({ conversation_id: c, listen_id: session.listen_id });
  const blockMs = deps.o.blockMs ?? 500;
  const vad = await SileroVad.create(deps.o.vad);
  const resampler = session.sample_rate === VAD_SAMPLE_RATE ? null : new StreamingResampler(session.sample_rate, VAD_SAMPLE_RATE);
  const transcript = new Transcript(deps.redis, session, deps.limits);
  const frames = new FrameIds(1000);
  const padMs = vad.segmenter.options.preSpeechPadMs;

  let after = (await deps.redis.hget(progressKey, 'after')) ?? '0-0';
  if (meta.deliveries > 1) log.info({ after }, 'took over a listening session');
  let positionMs = 0; // audio fed to the VAD so far
  let open: Utterance | null = null;
  /** Utterances whose final text is being produced, oldest first; finals are written in this order. */
  const finishing: Utterance[] = [];
  let finals: Promise<void> = Promise.resolve();
  let savedAt = 0;
  let ended = false;
  let lastFrameAt = Date.now();

  const saveProgress = async () => {
    savedAt = Date.now();
    const resume = finishing[0]?.resumeId ?? open?.resumeId ?? after;
    await deps.redis.pipeline().hset(progressKey, 'after', resume).expire(progressKey, 3600).exec();
  };

  /** VAD events are handled one at a time, in order, whether they come from frames or from an early end. */
  let handling: Promise<void> = Promise.resolve();
  const handle = (events: VadEvent[]) =>
    (handling = handling.then(async () => {
      for (const e of events) await onEvent(e);
    }));

  /**
   * The engine fixed text that covers the speech so far (pocketsphinx prints a phrase after its own
   * endpointer heard a pause). With the VAD hearing silence too and the text sounding finished, the turn
   * ends once the VAD has heard `earlyEndMs`: nothing said is left to recognise, so waiting out the rest of
   * VAD_END_SILENCE_MS would only add latency. Text fixed while the VAD still heard speech may not hold it all.
   */
  const settle = (u: Utterance, text: string) => {
    if (open !== u || !deps.o.earlyEndMs) return;
    const seg = vad.segmenter;
    u.settled = seg.silenceMs > 0 && soundsFinished(text, u.names) ? { text, speechEndMs: seg.lastSpeechEndMs } : undefined;
    endEarlyIfSettled();
  };
  const endEarlyIfSettled = () => {
    const u = open;
    if (!u?.settled || u.ending) return;
    const seg = vad.segmenter;
    if (seg.silenceMs < deps.o.earlyEndMs || seg.lastSpeechEndMs !== u.settled.speechEndMs) return;
    u.ending = true;
    void vad
      .endEarly(deps.o.earlyEndMs, u.settled.speechEndMs)
      .then((events) => {
        if (!events.length) u.ending = false; // speech came back in frames the VAD had not seen yet
        return handle(events);
      })
      .catch((err) => log.warn({ err }, 'early end of turn failed'));
  };

  const onEvent = async (e: VadEvent) => {
    if (e.type === 'speech_start') {
      const names = await deps.vocabulary.names();
      const u: Utterance = {
        turnId: randomUUID(),
        messageId: randomUUID(),
        startMs: e.startMs,
        resumeId: frames.before(e.startMs - padMs, after),
        announced: false,
        names,
        recognition: startRecognition(deps.engine, {
          vocabulary: names,
          partialMs: deps.o.partialMs,
          signal: meta.signal,
          onPartial: (text, stable) => {
            void transcript.partial(u.turnId, text, stable).catch((err) => log.warn({ err }, 'partial not written'));
            if (stable) settle(u, text);
          },
        }),
      };
      open = u;
      u.recognition.write(e.audio);
    } else if (e.type === 'speech_audio') {
      open?.recognition.write(e.audio);
    } else if (e.type === 'speech_end' && open) {
      const u = open;
      open = null;
      finishing.push(u);
      const endAt = performance.now();
      // The VAD waited out the trailing silence: the user stopped speaking that much audio earlier.
      const spokeAt = endAt - Math.max(0, positionMs - e.endMs);
      const settled = e.reason === 'early' ? u.settled?.text : undefined;
      finals = finals.then(() => finish(u, e.speechMs, endAt, spokeAt, settled));
    }
    if (open && !open.announced && positionMs - open.startMs >= deps.o.bargeInMs) {
      open.announced = true;
      await transcript.speechStarted(open.turnId);
    }
  };

  /** `settled`: the turn ended early on text the engine had already fixed, so there is nothing to wait for. */
  const finish = async (u: Utterance, audioMs: number, endAt: number, spokeAt: number, settled?: string) => {
    let outcome: 'transcribed' | 'empty' | 'failed' = 'failed';
    try {
      if (settled !== undefined) u.recognition.cancel();
      const text = settled ?? (await u.recognition.finish());
      const id = await transcript.finished(u.turnId, u.messageId, text, spokeAt);
      outcome = id ? 'transcribed' : 'empty';
      log.info({ turn_id: u.turnId, text, ms: Math.round(performance.now() - endAt), early: settled !== undefined }, id ? 'utterance transcribed' : 'utterance had no words');
    } catch (err) {
      // Shutting down: left unsaved, so the worker that takes the session over transcribes it again.
      if (meta.signal.aborted) return;
      log.error({ err, turn_id: u.turnId }, 'transcription failed');
      await transcript.failed(u.turnId, failureMessage(deps.engine.name, err)).catch((e) => log.warn({ err: e }, 'transcription failure not reported'));
    } finally {
      deps.metrics.emit({ kind: 'stt_utterance', engine: deps.engine.name, outcome, audioMs, finalMs: performance.now() - endAt });
    }
    finishing.shift();
    await saveProgress();
  };

  const conn = deps.readers.acquire();
  try {
    while (!ended && !meta.signal.aborted) {
      const res = (await conn.xread('COUNT', 100, 'BLOCK', blockMs, 'STREAMS', key, after)) as Array<[string, RawEntry[]]> | null;
      const entries = res?.[0]?.[1] ?? [];
      if (entries.length) lastFrameAt = Date.now();
      else if (Date.now() - lastFrameAt > deps.o.idleMs) {
        log.info('no microphone frames for a while; ending the listening session');
        break;
      }
      const before = vad.stats.frames;
      const t0 = vad.stats.inferenceMs;
      for (const [id, fields] of entries) {
        let frame: MicEntry;
        try {
          frame = decodeEntry(MicEntry, fields);
        } catch (err) {
          log.warn({ err, id }, 'skipping an invalid microphone entry');
          after = id;
          continue;
        }
        after = id;
        if (frame.end) {
          ended = true;
          break;
        }
        let pcm = base64ToPcm16(frame.pcm);
        if (resampler) pcm = resampler.push(pcm);
        positionMs += (pcm.length * 1000) / VAD_SAMPLE_RATE;
        frames.add(id, positionMs);
        await handle(await vad.process(pcm));
      }
      endEarlyIfSettled();
      if (vad.stats.frames > before) deps.metrics.emit({ kind: 'vad_frames', frames: vad.stats.frames - before, inferenceMs: vad.stats.inferenceMs - t0 });
      if (Date.now() - savedAt >= (deps.o.progressEveryMs ?? 1000)) await saveProgress();
    }
    if (meta.signal.aborted) {
      // Handed back on shutdown: the entry stays pending and another worker resumes from the saved point.
      (open as Utterance | null)?.recognition.cancel();
      await saveProgress().catch(() => undefined);
      throw new Error('listening session handed back');
    }
    await handle(await vad.flush());
    await finals;
    await deps.redis.del(progressKey);
  } finally {
    deps.readers.release(conn);
  }
}
