#!/usr/bin/env node
// Voice benchmark: how fast the embedded speech-in engines are, and how soon a character starts answering
// after the user stops talking (voice-to-voice).
//
//   [1/2] rtf — in this process, no stack:
//         (a) Silero VAD (the stt-worker's SileroVad, onnxruntime-node, 1 thread): ≈ 30 s of flite speech and
//             silence fed as 512-sample (32 ms) frames, one after another; wall time per frame (model call plus
//             the segmenter), real-time factor (time / audio duration), CPU, and the utterances it found.
//         (b) pocketsphinx ASR (the stt-worker's engine; skipped with a line when it is not installed): a fixed
//             set of 5 flite sentences at 16 kHz, each cut as the VAD would cut it (VAD_PRE_SPEECH_PAD_MS of
//             silence, the speech, VAD_END_SILENCE_MS of silence), after 1 uncounted call:
//               • incremental: written through stream() in 20 ms writes at real-time pace, then finish() timed:
//                 what the pipeline waits for after the VAD has ended the turn;
//               • one-shot: transcribe() of the same audio (taking the engine's pre-warmed decoder); its time
//                 / audio duration is the real-time factor;
//             plus how many of the sentences' words were recognised, the word error rate, and the CPU of the
//             decoder processes per utterance (each is a pocketsphinx_continuous that loads the model: ≈ 0.7 s).
//   [2/2] pipeline — the real stack (isolated redis-server, PGlite, one ws-edge, one llm-worker, one stt-worker,
//         one tts-worker as child processes) and a scripted LLM (a child process of this bench) that answers at
//         once with one short sentence. One socket sends `start_listening` (16 kHz) and then behaves like a live
//         microphone: a 20 ms binary frame every 20 ms of wall time, silence when nobody talks. Each utterance is
//         a flite sentence addressed to Alice (5 sentences in turn), with 300 ms of silence before it; silence
//         follows for as long as the answer takes. The next utterance starts once the turn has finished
//         (`turn_finished`, every `audio_stream_stop`) and the answer would have finished playing (first frame +
//         its audio duration), so barge-in never cuts anything. Speech end (t_end) is when the frame holding
//         the clip's last speech sample (the last one above 1 % of full scale) was sent. Per utterance:
//           • t_end → `stt_finished` received,
//           • t_end → first binary audio frame of the answer received (voice-to-voice),
//           • `stt_finished` → first binary audio frame;
//         then where the time goes, rebuilt after the fact from the streams' `ts` (performance.timeOrigin +
//         performance.now() in every process) and the stt-worker's "utterance transcribed" log lines (the
//         engine's finish() time), and the CPU per utterance of each process (from /proc). The VAD ends a turn
//         after hearing VAD_END_SILENCE_MS of silence (counted in whole 32 ms frames: 550 → 576 ms), or after
//         VAD_EARLY_END_MS (400) once the engine has fixed text that sounds finished (pocketsphinx fixes a phrase
//         after POCKETSPHINX_ENDPOINT_MS of silence); that silence is part of every figure from t_end. The bench
//         counts the turns that ended early. Also printed: the words recognised and who answered (a misheard
//         "Alice" makes every character answer; the first audio frame of the turn is still what is measured).
//         The target line, voice-to-voice ≤ 700 ms p50 on a 2-core machine, is printed as PASS or MISS.
//
// A MISS does not fail the run. The exit code is 1 only when something breaks: a stack that does not start or
// stop, an utterance with no stt_finished or turn within 30 s, a turn that does not complete, reports an `error`
// or ends without audio, or an engine that fails.
//
// Options (env or argv):  BENCH_VOICE_TURNS / --turns=N (default 20, counted utterances in section 2)
//                         BENCH_VOICE_WARMUP / --warmup=N (default 2, uncounted utterances before them)
//                         BENCH_VOICE_SECTIONS / --sections=rtf,pipeline (default both)
//                         BENCH_VOICE_USER_VOICE / --user-voice=slt|kal16|rms|awb|kal (default slt: the flite
//                           voice of the user's speech; pocketsphinx hears slt best, rms often misses "Alice")
// The apps get the caller's environment too, e.g. VAD_END_SILENCE_MS=300 npm run bench:voice (section 1 uses the
// same VAD settings). Like the other benches it fixes LOG_LEVEL=info and uses the production claim timings
// unless set: TURN_CLAIM_IDLE_MS=5000, STT_CLAIM_IDLE_MS=3000, TTS_CLAIM_IDLE_MS=3000 (AUDIO_WAIT_MS stays the test
// kit's 15000 unless set). With the defaults it takes about 2.5 minutes on a 2-core machine.
//
// Internal: `node bench/voice-latency.mjs --scripted-llm` runs only the scripted LLM (forked by the bench so that
// serving the LLM does not compete with the microphone and the socket for this process's event loop).

import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { fliteWav, hasPocketsphinx, joinPcm, resampleLinear, silence, startStack } from '@chorus/testkit';
import { editDistance } from '../scripts/edit-distance.mjs';
import {
  BenchSocketBase,
  cpuMs,
  cpuText,
  fmt,
  hostInfo,
  listOption,
  loadAverage,
  now,
  option,
  printLogTails,
  rawOption,
  readNewEntries,
  runBench,
  sleep,
  stackCpuMeter,
  stackOptions,
  startLlmChild,
  summary,
  table,
} from './lib.mjs';

/**
 * The user's sentences, all addressed to Alice. Chosen so that pocketsphinx hears "alice" in flite's slt voice
 * wherever the VAD's 32 ms frames cut the utterance (e.g. "Alice, tell me about the red planet." comes out as
 * "ellis tell me …" at some alignments; then no name is heard and every character answers).
 */
const SENTENCES = [
  'Alice, what is the weather like on Mars?',
  'Hello Alice, tell me about the red planet.',
  'Alice, what time is it on Mars?',
  'Hello Alice, where do you live?',
  'Alice, can you see the stars tonight?',
];
/** The characters' names: the stt-worker passes them to the engine as vocabulary. */
const NAMES = ['Alice', 'Bob'];
/** The scripted LLM's answer: one short sentence (≈ 1.6 s of speech), at once. */
const REPLY = { text: 'It is cold and dusty there.', chunkSize: 8 };

const RATE = 16_000;
const FRAME_MS = 20;
const FRAME_SAMPLES = (RATE * FRAME_MS) / 1000;
/** Silence before each utterance in section 2. */
const LEAD_MS = 300;
/** A sample louder than this (1 % of full scale, −40 dBFS) is speech when finding where a clip's speech ends. */
const SPEECH_LEVEL = 328;
const USER_VOICES = ['slt', 'kal16', 'rms', 'awb', 'kal'];
/** Longest wait for an utterance's turn, from the start of its clip. */
const UTTERANCE_TIMEOUT_MS = 30_000;

/* ------------------------------------------------------------------------------------------------------ */
/* Speech and words.                                                                                      */

const speechCache = new Map();

/** A sentence spoken by flite at 16 kHz: `pcm`, and `endSample` (one past its last sample above SPEECH_LEVEL). */
async function userSpeech(text, voice) {
  const key = `${voice}\n${text}`;
  let s = speechCache.get(key);
  if (!s) {
    const { pcm, sampleRate } = await fliteWav(text, voice);
    const speech = sampleRate === RATE ? pcm : resampleLinear(pcm, sampleRate, RATE);
    let end = speech.length;
    while (end > 0 && Math.abs(speech[end - 1]) <= SPEECH_LEVEL) end--;
    if (end === 0) throw new Error(`flite (${voice}) spoke nothing for "${text}"`);
    speechCache.set(key, (s = { text, pcm: speech, endSample: end }));
  }
  return s;
}

const words = (text) => text.toLowerCase().replace(/[^a-z' ]+/g, ' ').split(/\s+/).filter(Boolean);

/** How a transcript compares with what was said: words, words found in it (as a multiset), word errors. */
function wordScore(said, heard) {
  const ref = words(said);
  const hyp = words(heard);
  const left = [...hyp];
  let found = 0;
  for (const w of ref) {
    const i = left.indexOf(w);
    if (i >= 0) (left.splice(i, 1), found++);
  }
  return { words: ref.length, found, errors: editDistance(ref, hyp) };
}

/** `found/words (pct %), WER pct %` over several wordScores. */
function wordsText(scores) {
  const w = scores.reduce((n, s) => n + s.words, 0);
  const f = scores.reduce((n, s) => n + s.found, 0);
  const e = scores.reduce((n, s) => n + s.errors, 0);
  return `${f}/${w} words recognised (${fmt((100 * f) / w, 0)} %), word error rate ${fmt((100 * e) / w, 0)} %`;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/* ------------------------------------------------------------------------------------------------------ */
/* [1/2] Engine real-time factors, in this process.                                                       */

/** (a) Silero VAD over ≈ 30 s of speech and silence, one 512-sample frame after another. */
async function vadRtf({ stt, cfg, voice }) {
  const { SileroVad, VAD_FRAME_SAMPLES } = stt;
  // Sentences with 700 ms of silence before each and 1.2 s after the last, until ≥ 30 s.
  const parts = [];
  let utterances = 0;
  for (let samples = 0; samples < 30 * RATE; utterances++) {
    const s = await userSpeech(SENTENCES[utterances % SENTENCES.length], voice);
    parts.push(silence(700), s.pcm);
    samples += 0.7 * RATE + s.pcm.length;
  }
  parts.push(silence(1200));
  const audio = joinPcm(...parts);
  const frames = Math.floor(audio.length / VAD_FRAME_SAMPLES);
  const audioS = (frames * VAD_FRAME_SAMPLES) / RATE;
  const vadOptions = {
    positiveThreshold: cfg.VAD_POSITIVE_THRESHOLD,
    negativeThreshold: cfg.VAD_NEGATIVE_THRESHOLD,
    minSpeechMs: cfg.VAD_MIN_SPEECH_MS,
    endSilenceMs: cfg.VAD_END_SILENCE_MS,
    preSpeechPadMs: cfg.VAD_PRE_SPEECH_PAD_MS,
    maxSpeechMs: cfg.VAD_MAX_SPEECH_MS,
  };
  const frame = (i) => audio.slice(i * VAD_FRAME_SAMPLES, (i + 1) * VAD_FRAME_SAMPLES);

  // Warm-up on another instance (the model session is shared): onnxruntime's first runs are slower.
  const t0 = now();
  const warm = await SileroVad.create(vadOptions);
  const loadMs = now() - t0;
  for (let i = 0; i < 50; i++) await warm.frameProbability(frame(i));

  const vad = await SileroVad.create(vadOptions);
  const perFrame = [];
  let found = 0;
  const cpu0 = cpuMs(process.pid);
  const start = now();
  for (let i = 0; i < frames; i++) {
    const f = frame(i);
    const a = now();
    const p = await vad.frameProbability(f);
    for (const e of vad.segmenter.push(p, f)) if (e.type === 'speech_end') found++;
    perFrame.push(now() - a);
  }
  const wallMs = now() - start;
  const cpuPerS = (cpuMs(process.pid) - cpu0) / audioS;
  for (const e of vad.segmenter.flush()) if (e.type === 'speech_end') found++;

  const s = summary(perFrame);
  console.log('');
  console.log(
    `  (a) Silero VAD: ${fmt(audioS, 1)} s of audio (${utterances} sentences, flite ${voice}, and silence) = ${frames} frames of ${VAD_FRAME_SAMPLES} samples (32 ms); ` +
      `model loaded in ${fmt(loadMs, 0)} ms (first instance)`,
  );
  table(
    ['per 32 ms frame (ms)', 'p50', 'p90', 'p99', 'max', 'model call mean', 'RTF', 'CPU ms/audio s', 'utterances found'],
    [
      [
        'model call + segmenter',
        fmt(s.p50, 3),
        fmt(s.p90, 3),
        fmt(s.p99, 3),
        fmt(s.max, 3),
        fmt(vad.stats.inferenceMs / vad.stats.frames, 3),
        fmt(wallMs / 1000 / audioS, 4),
        fmt(cpuPerS, 1),
        `${found}/${utterances}`,
      ],
    ],
  );
  console.log('     (RTF = wall time / audio duration; CPU = this process, onnxruntime thread included)');
}

/** (b) pocketsphinx: incremental (stream at real-time pace, then finish) and one-shot, per sentence. */
async function asrRtf({ stt, cfg, voice }) {
  console.log('');
  if (!hasPocketsphinx()) {
    console.log('  (b) pocketsphinx ASR: skipped, pocketsphinx_continuous (or stdbuf) is not installed (apt-get install pocketsphinx pocketsphinx-en-us)');
    return undefined;
  }
  const engine = stt.createPocketsphinxEngine({ binary: cfg.POCKETSPHINX_BIN, modelDir: cfg.POCKETSPHINX_MODEL_DIR });
  const opts = { vocabulary: NAMES };
  const rows = [];
  const finishMs = [];
  const scores = { stream: [], oneShot: [] };
  let audioTotalS = 0;
  let oneShotTotalS = 0;
  try {
    // The utterance as the VAD cuts it: pre-speech pad, the speech, the end-of-turn silence.
    const utterances = [];
    for (const text of SENTENCES) {
      const s = await userSpeech(text, voice);
      utterances.push({ text, pcm: joinPcm(silence(cfg.VAD_PRE_SPEECH_PAD_MS), s.pcm, silence(cfg.VAD_END_SILENCE_MS)) });
    }
    await sleep(1500); // the engine's pre-warmed decoder loads its model (≈ 0.7 s)
    const cold = now();
    await engine.transcribe(utterances[0].pcm, opts); // uncounted
    const coldMs = now() - cold;
    await sleep(1500);
    const cpu0 = cpuMs(process.pid, { children: true });
    for (const u of utterances) {
      const audioS = u.pcm.length / RATE;
      // Incremental: 20 ms writes at real-time pace (what the stt-worker does while the user talks).
      const rec = engine.stream(opts);
      const begin = now();
      for (let i = 0, n = 1; i < u.pcm.length; i += FRAME_SAMPLES, n++) {
        rec.write(u.pcm.subarray(i, i + FRAME_SAMPLES));
        await sleep(begin + n * FRAME_MS - now());
      }
      const f0 = now();
      const streamed = await rec.finish();
      const fin = now() - f0;
      // One-shot: the same audio at once (the pre-warmed decoder has loaded while the stream ran).
      await sleep(300);
      const o0 = now();
      const oneShot = await engine.transcribe(u.pcm, opts);
      const oneMs = now() - o0;
      audioTotalS += audioS;
      oneShotTotalS += oneMs / 1000;
      finishMs.push(fin);
      const ss = wordScore(u.text, streamed);
      const os = wordScore(u.text, oneShot);
      scores.stream.push(ss);
      scores.oneShot.push(os);
      rows.push([clip(u.text, 38), fmt(audioS, 2), fmt(fin, 0), fmt(oneMs, 0), fmt(oneMs / 1000 / audioS, 3), `${ss.found}/${ss.words}`, `"${streamed}"`]);
      await sleep(300);
    }
    const cpuPerUtt = (cpuMs(process.pid, { children: true }) - cpu0) / (2 * utterances.length);
    const fs = summary(finishMs);
    console.log(
      `  (b) pocketsphinx ASR: ${SENTENCES.length} sentences (flite ${voice}, 16 kHz) with ${cfg.VAD_PRE_SPEECH_PAD_MS} ms of silence before and ` +
        `${cfg.VAD_END_SILENCE_MS} ms after (as the VAD cuts them), vocabulary ${NAMES.join(', ')}; 1 uncounted call first (${fmt(coldMs, 0)} ms)`,
    );
    table(['sentence', 'audio s', 'stream finish', 'one-shot', 'RTF', 'words', 'transcript (stream)'], rows, { left: 1 });
    console.log(
      `     incremental: finish() after real-time writes p50 ${fmt(fs.p50, 0)} ms, max ${fmt(fs.max, 0)} ms (the pipeline's wait after the VAD ends the turn); ` +
        `${wordsText(scores.stream)}`,
    );
    console.log(
      `     one-shot: RTF ${fmt(oneShotTotalS / audioTotalS, 3)} over ${fmt(audioTotalS, 1)} s of audio (decode time / audio duration); ${wordsText(scores.oneShot)}`,
    );
    console.log(`     CPU of the decoder processes: ${fmt(cpuPerUtt, 0)} ms per utterance (each loads the model; the bench's own CPU included)`);
    return { finish: fs };
  } finally {
    await engine.close();
  }
}

async function engineRtf({ stt, cfg, voice }) {
  console.log('');
  console.log(`[1/2] engine real-time factors (in this process, no stack); load average ${loadAverage()}`);
  await vadRtf({ stt, cfg, voice });
  return asrRtf({ stt, cfg, voice });
}

/* ------------------------------------------------------------------------------------------------------ */
/* [2/2] The pipeline: a live microphone on a socket of the real stack.                                   */

/**
 * A live microphone on a socket: one 20 ms frame every 20 ms of wall time (on a fixed schedule from start(), so
 * a late timer sends the frames it owes at once, as a buffered microphone would), silence unless a clip is
 * being said.
 */
class LiveMic {
  constructor(ws) {
    this.ws = ws;
    this.silence = Buffer.alloc(FRAME_SAMPLES * 2);
    this.clip = undefined;
    this.n = 0;
    this.lateness = []; // ms after its due time that each clip frame was sent
    this.stopped = false;
  }

  start() {
    this.t0 = now();
    this.tick();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * Says `pcm` (16 kHz, a whole number of frames), starting with the next frame. `onEnd(at)` is called right
   * after the frame holding sample `endSample - 1` was sent; resolves when the whole clip was sent.
   */
  say(pcm, endSample, onEnd) {
    return new Promise((resolve) => {
      this.clip = { pcm, at: 0, endFrame: Math.floor((endSample - 1) / FRAME_SAMPLES), frame: 0, onEnd, resolve };
    });
  }

  tick = () => {
    if (this.stopped || this.ws.readyState !== WebSocket.OPEN) return;
    for (let due = this.t0 + this.n * FRAME_MS, t = now(); due <= t; due = this.t0 + this.n * FRAME_MS) {
      this.sendFrame(t - due);
      this.n++;
    }
    this.timer = setTimeout(this.tick, Math.max(0, this.t0 + this.n * FRAME_MS - now()));
  };

  sendFrame(late) {
    const c = this.clip;
    if (!c) {
      this.ws.send(this.silence);
      return;
    }
    const pcm = c.pcm.subarray(c.at, c.at + FRAME_SAMPLES);
    this.ws.send(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    this.lateness.push(late);
    if (c.frame === c.endFrame) c.onEnd(now());
    c.frame++;
    c.at += FRAME_SAMPLES;
    if (c.at >= c.pcm.length) {
      this.clip = undefined;
      c.resolve();
    }
  }
}

/**
 * The bench's socket (see BenchSocketBase): one utterance at a time in `this.current`. An utterance records its
 * `stt_finished`s (normally one; more when the VAD split it), the turns they started (in order: each non-empty
 * stt_finished is followed by its turn's `turn_started`), and per answering message the arrival of its first
 * binary frame and its audio.
 */
class VoiceSocket extends BenchSocketBase {
  constructor(ws) {
    super(ws);
    this.frameTo = undefined; // message that the next binary frame belongs to (the last audio_chunk's)
  }

  onBinary(raw, at) {
    const m = this.frameTo;
    if (!m) return;
    this.frameTo = undefined;
    m.firstAt ??= at;
    m.samples += raw.length >> 1;
  }

  message(u, id) {
    let m = u.messages.get(id);
    if (!m) u.messages.set(id, (m = { id, turnId: undefined, character: undefined, sampleRate: 0, firstAt: undefined, samples: 0, stopAt: undefined }));
    return m;
  }

  onMessage(msg, at) {
    // turn_finished carries its turn_id, and an utterance may have more than one turn.
    if (msg.type === 'turn_finished' && this.current) {
      const turn = this.current.turns.get(msg.data.turn_id);
      if (turn) (turn.finishedAt = at), (turn.status = msg.data.status);
      this.current.check();
      return;
    }
    super.onMessage(msg, at);
  }

  onTurnMessage(u, msg, at) {
    switch (msg.type) {
      case 'stt_finished':
        u.stts.push({ at, text: msg.data.text, afterEnd: u.endAt !== undefined });
        break;
      case 'turn_started': {
        const turn = { id: msg.data.turn_id, startedAt: at, finishedAt: undefined, status: undefined, responders: msg.data.responders ?? [] };
        u.turns.set(turn.id, turn);
        u.order.push(turn.id);
        for (const r of turn.responders) Object.assign(this.message(u, r.message_id), { turnId: turn.id, character: r.character_name });
        break;
      }
      case 'audio_stream_start':
        this.message(u, msg.data.message_id).sampleRate = msg.data.sample_rate;
        break;
      case 'audio_chunk':
        this.frameTo = this.message(u, msg.data.message_id);
        break;
      case 'audio_stream_stop':
        this.message(u, msg.data.message_id).stopAt = at;
        u.check();
        break;
      case 'interrupt_ack':
        u.interrupts++;
        break;
    }
  }

  /**
   * Says one utterance on `mic` and resolves with its record once its turn is over: speech sent, a
   * `stt_finished` received after the speech ended, every turn started by one of its `stt_finished`s finished,
   * and every message of a completed turn stopped. Rejects after UTTERANCE_TIMEOUT_MS.
   */
  utter(mic, text, pcm, endSample) {
    if (this.closed) return Promise.reject(new Error('socket is closed'));
    return new Promise((resolve, reject) => {
      const u = {
        text,
        startAt: now(),
        endAt: undefined,
        stts: [],
        turns: new Map(),
        order: [],
        messages: new Map(),
        errors: [],
        interrupts: 0,
      };
      const timer = setTimeout(() => {
        const what =
          u.endAt === undefined ? 'the speech was not sent'
          : !u.stts.some((s) => s.afterEnd) ? 'no stt_finished (nothing recognised?)'
          : u.order.length < u.stts.length ? 'no turn_started after stt_finished'
          : 'turn_finished / audio_stream_stop missing';
        u.fail(Object.assign(new Error(`utterance "${text}": ${what} after ${UTTERANCE_TIMEOUT_MS / 1000} s`), { utterance: u }));
      }, UTTERANCE_TIMEOUT_MS);
      u.check = () => {
        if (u.endAt === undefined || !u.stts.some((s) => s.afterEnd) || u.order.length < u.stts.length) return;
        for (const id of u.order) {
          const turn = u.turns.get(id);
          if (turn.finishedAt === undefined) return;
          if (turn.status !== 'completed') continue;
          for (const m of u.messages.values()) if (m.turnId === id && m.stopAt === undefined) return;
        }
        u.done();
      };
      u.done = () => {
        clearTimeout(timer);
        this.current = undefined;
        resolve(u);
      };
      u.fail = (err) => {
        clearTimeout(timer);
        this.current = undefined;
        reject(err);
      };
      this.frameTo = undefined;
      this.current = u;
      void mic.say(pcm, endSample, (at) => {
        u.endAt = at;
        u.check();
      });
    });
  }
}

/** The measured parts of an utterance: the first stt_finished after the speech ended, its turn and that turn's first audio. */
function measured(u) {
  const k = u.stts.findIndex((s) => s.afterEnd);
  const stt = u.stts[k];
  const turn = u.turns.get(u.order[k]);
  const msgs = [...u.messages.values()].filter((m) => m.turnId === turn.id);
  const first = msgs.filter((m) => m.firstAt !== undefined).sort((a, b) => a.firstAt - b.firstAt)[0];
  return { stt, turn, msgs, first, splits: k };
}

/** Throws when an utterance's turn did not complete or spoke no audio. */
function checkUtterance(u, where) {
  const { turn, first, msgs } = measured(u);
  if (turn.status !== 'completed' || u.errors.length) {
    throw new Error(`${where}: turn ${turn.id} of "${u.text}" did not complete (status ${turn.status}, errors ${JSON.stringify(u.errors)})`);
  }
  if (!msgs.length) throw new Error(`${where}: turn ${turn.id} had no responder`);
  if (!first) throw new Error(`${where}: turn ${turn.id} ended without audio`);
}

/** Reads the streams after the fact (between utterances), keeping only the `ts` the figures need. */
class StreamReader {
  constructor(redis) {
    this.redis = redis;
    this.cursors = new Map();
    this.sttTs = new Map(); // turn_id → ts of its stt_finished event
    this.sentenceTs = new Map(); // turn_id → ts of its first (non-sentinel) sentence
    this.audioTs = new Map(); // message_id → ts of its first audio entry
  }

  readNew(key, onEntry) {
    return readNewEntries(this.redis, this.cursors, key, (fields) => {
      const i = fields.indexOf('e');
      if (i >= 0 && i % 2 === 0) onEntry(JSON.parse(fields[i + 1]));
    });
  }

  async collect(conversationId, messageIds) {
    await this.readNew(`events:{${conversationId}}`, (e) => {
      if (e.type === 'stt_finished' && !this.sttTs.has(e.turn_id)) this.sttTs.set(e.turn_id, e.ts);
    });
    await this.readNew(`sentence:{${conversationId}}`, (e) => {
      if (e.final || !e.text) return;
      const prev = this.sentenceTs.get(e.turn_id);
      if (prev === undefined || e.ts < prev) this.sentenceTs.set(e.turn_id, e.ts);
    });
    const todo = messageIds.filter((id) => !this.audioTs.has(id));
    if (!todo.length) return;
    const p = this.redis.pipeline();
    for (const id of todo) p.xrange(`audio:{${conversationId}}:${id}`, '-', '+', 'COUNT', 1);
    const res = await p.exec();
    res.forEach(([err, entries], i) => {
      if (err) throw err;
      const f = entries?.[0]?.[1];
      const j = f ? f.indexOf('e') : -1;
      if (j >= 0) this.audioTs.set(todo[i], JSON.parse(f[j + 1]).ts);
    });
  }
}

/** turn_id → engine finish() time (ms) and whether the turn ended early, from the stt-worker's "utterance transcribed" log lines. */
function finishTimes(proc) {
  const out = new Map();
  for (const line of proc.logs) {
    if (!line.includes('utterance transcribed')) continue;
    try {
      const o = JSON.parse(line);
      if (o.turn_id && typeof o.ms === 'number') out.set(o.turn_id, { ms: o.ms, early: o.early === true });
    } catch {
      /* not JSON */
    }
  }
  return out;
}

async function pipeline({ stt, stack, redis, cpu, turns, warmup, voice, sttConfig }) {
  const endSilence = sttConfig?.VAD_END_SILENCE_MS;
  console.log('');
  console.log(
    `[2/2] pipeline: 1 socket, live microphone (20 ms frames at real-time pace, 16 kHz), ${turns} utterances (+${warmup} warm-up), ` +
      `${SENTENCES.length} sentences to Alice in turn (flite ${voice}); scripted reply "${REPLY.text}" at once; load average ${loadAverage()}`,
  );
  console.log(
    `  stt-worker: STT_ENGINE ${sttConfig?.STT_ENGINE ?? '?'}, VAD_END_SILENCE_MS ${endSilence ?? '?'} (included in every figure from speech end: the VAD ` +
      `must hear that much silence before it ends the turn), VAD_EARLY_END_MS ${sttConfig?.VAD_EARLY_END_MS ?? '?'} (or this much, once the ` +
      `engine has fixed text that sounds finished; pocketsphinx fixes a phrase after POCKETSPHINX_ENDPOINT_MS ` +
      `${sttConfig?.POCKETSPHINX_ENDPOINT_MS ?? '?'} of silence), VAD_MIN_SPEECH_MS ${sttConfig?.VAD_MIN_SPEECH_MS ?? '?'}, ` +
      `VAD_PRE_SPEECH_PAD_MS ${sttConfig?.VAD_PRE_SPEECH_PAD_MS ?? '?'}, STT_BARGE_IN_MS ${sttConfig?.STT_BARGE_IN_MS ?? '?'}`,
  );
  const clips = [];
  for (const text of SENTENCES) {
    const s = await userSpeech(text, voice);
    const lead = silence(LEAD_MS);
    const frames = Math.ceil((lead.length + s.pcm.length) / FRAME_SAMPLES);
    const pcm = new Int16Array(frames * FRAME_SAMPLES);
    pcm.set(s.pcm, lead.length);
    clips.push({ text, pcm, endSample: lead.length + s.endSample });
  }

  const reader = new StreamReader(redis);
  const socket = await VoiceSocket.open(stack.edges[0].wsUrl);
  const mic = new LiveMic(socket.ws);
  const results = [];
  let cpu0;
  let start = 0;
  try {
    socket.ws.send(JSON.stringify({ type: 'start_listening', data: { sample_rate: RATE } }));
    mic.start();
    await sleep(500);
    for (let i = -warmup; i < turns; i++) {
      if (i === 0) {
        cpu0 = cpu.snapshot();
        start = now();
        mic.lateness.length = 0;
      }
      const c = clips[(i + warmup) % clips.length];
      const u = await socket.utter(mic, c.text, c.pcm, c.endSample);
      checkUtterance(u, 'pipeline');
      if (i >= 0) results.push(u);
      // Like a user who lets the character finish: wait until the answer would have played to its end.
      const playedAt = Math.max(...[...u.messages.values()].filter((m) => m.firstAt !== undefined).map((m) => m.firstAt + (m.samples / m.sampleRate) * 1000));
      await reader.collect(socket.conversationId, [...u.messages.keys()]);
      await sleep(playedAt + 150 - now());
    }
  } catch (err) {
    const u = err.utterance;
    if (u) console.error(`  utterance so far: stt_finished ${JSON.stringify(u.stts.map((s) => s.text))}, turns ${u.order.length}, errors ${JSON.stringify(u.errors)}`);
    throw err;
  } finally {
    mic.stop();
    await socket.close();
  }
  const elapsedS = (now() - start) / 1000;
  const cpuPerUtt = cpu.per(cpu0, results.length);

  const rows = results.map((u) => ({ u, ...measured(u) }));
  const wall = (at) => performance.timeOrigin + at;
  const toStt = summary(rows.map(({ u, stt }) => stt.at - u.endAt));
  const v2v = summary(rows.map(({ u, first }) => first.firstAt - u.endAt));
  const sttToAudio = summary(rows.map(({ stt, first }) => first.firstAt - stt.at));
  const speechS = summary(clips.map((c) => (c.endSample - (LEAD_MS * RATE) / 1000) / RATE));
  const late = summary(mic.lateness);
  console.log(
    `  ${results.length} utterances in ${elapsedS.toFixed(1)} s; ${fmt(speechS.min, 1)}–${fmt(speechS.max, 1)} s of speech each (flite's clip to its speech end); ` +
      `mic frames sent p99 ${fmt(late.p99, 1)} ms, max ${fmt(late.max, 1)} ms after due`,
  );
  console.log('');
  const row = (label, s) => [label, s.n, fmt(s.p50, 0), fmt(s.p90, 0), fmt(s.p99, 0), fmt(s.max, 0)];
  table(
    ['metric (ms)', 'n', 'p50', 'p90', 'p99', 'max'],
    [
      row('speech end → stt_finished received', toStt),
      row('speech end → first audio frame received (voice-to-voice)', v2v),
      row('stt_finished → first audio frame received', sttToAudio),
    ],
  );
  const fin = finishTimes(stack.sttWorkers[0]);
  const earlyRows = rows.filter(({ turn }) => fin.get(turn.id)?.early);
  const early = earlyRows.length;
  console.log('');
  console.log(
    `  turns ended early (VAD_EARLY_END_MS of silence after the engine's fixed, finished-sounding text): ${early}/${rows.length}; ` +
      `the others after VAD_END_SILENCE_MS`,
  );
  console.log(
    `  target: voice-to-voice ≤ 700 ms p50 on a 2-core machine with the embedded engines: ${v2v.p50 <= 700 ? 'PASS' : 'MISS'} ` +
      `(p50 ${fmt(v2v.p50, 0)} ms, silence before the end of turn included)`,
  );

  // Where the time goes: a contiguous chain from speech end to the first audio frame.
  const missing = rows.filter(({ turn, first }) => !reader.sttTs.has(turn.id) || !reader.sentenceTs.has(turn.id) || !reader.audioTs.has(first.id) || !fin.has(turn.id));
  console.log('');
  if (missing.length) {
    console.log(`  where the time goes: left out, ${missing.length} utterance(s) lack a stream entry or an "utterance transcribed" log line`);
  } else {
    const hop = (f) => summary(rows.map(f));
    const vadEnd = (r) => reader.sttTs.get(r.turn.id) - fin.get(r.turn.id).ms;
    /** @type {[string, ReturnType<typeof summary>][]} */
    const hops = [
      ['speech end → VAD ends the turn (≈; its silence included)', hop((r) => vadEnd(r) - wall(r.u.endAt))],
      ['VAD end → final text (engine finish(), stt-worker log)', hop((r) => fin.get(r.turn.id).ms)],
      ['stt_finished entry → first sentence entry (llm-worker)', hop((r) => reader.sentenceTs.get(r.turn.id) - reader.sttTs.get(r.turn.id))],
      ['first sentence entry → first audio entry (tts-worker)', hop((r) => reader.audioTs.get(r.first.id) - reader.sentenceTs.get(r.turn.id))],
      ['first audio entry → first audio frame received (edge)', hop((r) => wall(r.first.firstAt) - reader.audioTs.get(r.first.id))],
    ];
    console.log("  where the time goes (ms; the streams' ts, the stt-worker's log and this process's clock)");
    table(
      ['hop', 'p50', 'p90', 'p99', 'max'],
      hops.map(([label, s]) => [label, fmt(s.p50, 1), fmt(s.p90, 1), fmt(s.p99, 1), fmt(s.max, 1)]),
    );
    // The segmenter counts silence in whole 32 ms frames: the turn ends on the first frame that reaches it.
    const frameMs = (stt.VAD_FRAME_SAMPLES * 1000) / RATE;
    const counted = Math.ceil((endSilence ?? 0) / frameMs) * frameMs;
    const full = rows.filter((r) => !earlyRows.includes(r));
    const vadOver = summary(full.map((r) => vadEnd(r) - wall(r.u.endAt) - counted));
    const sttRelay = hop((r) => wall(r.stt.at) - reader.sttTs.get(r.turn.id));
    if (early) {
      const earlyEnd = summary(earlyRows.map((r) => vadEnd(r) - wall(r.u.endAt)));
      console.log(
        `  early ends: speech end → end of turn p50 ${fmt(earlyEnd.p50, 0)} ms (max ${fmt(earlyEnd.max, 0)} ms): the later of the engine's fixed ` +
          `phrase and VAD_EARLY_END_MS of silence as the VAD hears it (it hears speech a little past the speech end, in flite's fading tail)`,
      );
    }
    if (full.length)
      console.log(
        `  full ends: the VAD counts silence in whole ${frameMs} ms frames, so ${endSilence} ms of silence ends a turn after ${counted} ms; the rest, ` +
          `p50 ${fmt(vadOver.p50, 0)} ms (max ${fmt(vadOver.max, 0)} ms), is the frame that holds the speech end, the VAD still hearing speech in ` +
          `flite's fading tail, and the edge → Redis → stt-worker hop.`,
      );
    console.log(`  stt_finished entry → received at the socket: p50 ${fmt(sttRelay.p50, 1)} ms`);
  }

  // Sanity: what was recognised and who answered.
  const scores = rows.map(({ u, stt }) => wordScore(u.text, stt.text));
  const aliceOnly = rows.filter(({ turn }) => turn.responders.length === 1 && turn.responders[0].character_name === 'Alice').length;
  const splits = rows.filter((r) => r.splits > 0).length;
  const interrupts = sum(results.map((u) => u.interrupts));
  console.log('');
  console.log(`  recognised: ${wordsText(scores)}; answered by Alice alone ${aliceOnly}/${rows.length}`);
  const worst = rows.map((r, i) => ({ r, s: scores[i] })).filter(({ s }) => s.found < s.words).slice(0, 3);
  for (const { r } of worst) console.log(`    e.g. "${r.u.text}" → "${r.stt.text}"`);
  if (splits) console.log(`  note: the VAD split ${splits} utterance(s) in two (a stt_finished came before the speech ended); the later part was measured`);
  if (interrupts) console.log(`  note: ${interrupts} interrupt_ack(s) (barge-in) during the run`);
  if (cpuPerUtt) {
    console.log('');
    console.log(`  CPU time per utterance (ms, user + system, from /proc; stt-worker with its ended decoder processes): ${cpuText(cpuPerUtt)}`);
  }
  return { v2v };
}

/* ------------------------------------------------------------------------------------------------------ */

async function main() {
  const turns = option('turns', 'BENCH_VOICE_TURNS', 20);
  const warmup = option('warmup', 'BENCH_VOICE_WARMUP', 2);
  const sections = listOption('sections', 'BENCH_VOICE_SECTIONS', ['rtf', 'pipeline']);
  const voice = rawOption('user-voice', 'BENCH_VOICE_USER_VOICE') || 'slt';
  if (!USER_VOICES.includes(voice)) throw new Error(`BENCH_VOICE_USER_VOICE / --user-voice: use one of ${USER_VOICES.join(', ')}`);
  if (turns < 1) throw new Error('BENCH_VOICE_TURNS must be at least 1');

  const t0 = now();
  console.log(`voice-latency bench: ${hostInfo()}, load average ${loadAverage(3)}; sections ${[...sections].join(', ')}`);
  // Imported here, not at the top: the scripted LLM child runs this file too and needs none of it.
  const stt = await import('@chorus/stt-worker');
  // The pocketsphinx engine's spare decoder does not keep Node alive (unref'd), so while close() waits for it
  // nothing else might: hold the event loop open until main has finished.
  const keepAlive = setInterval(() => {}, 60_000);
  let llm;
  let stack;
  let redis;
  let failed = false;
  try {
    if (sections.has('rtf')) await engineRtf({ stt, cfg: stt.loadSttWorkerConfig(process.env), voice });
    if (sections.has('pipeline')) {
      const engineName = process.env.STT_ENGINE || 'pocketsphinx';
      if (engineName === 'pocketsphinx' && !hasPocketsphinx()) {
        console.log('');
        console.log('[2/2] pipeline: skipped, the stt-worker needs pocketsphinx (apt-get install pocketsphinx pocketsphinx-en-us) or STT_ENGINE=openai');
      } else {
        const s0 = now();
        llm = await startLlmChild(import.meta.url);
        stack = await startStack(
          stackOptions(llm, {
            sttWorkers: 1,
            ttsWorkers: 1,
            env: {
              STT_CLAIM_IDLE_MS: process.env.STT_CLAIM_IDLE_MS ?? '3000',
              TTS_CLAIM_IDLE_MS: process.env.TTS_CLAIM_IDLE_MS ?? '3000',
              AUDIO_WAIT_MS: process.env.AUDIO_WAIT_MS ?? '15000',
            },
          }),
        );
        redis = new Redis(stack.redis.url, { connectionName: 'bench-reader', maxRetriesPerRequest: null });
        let sttConfig;
        try {
          sttConfig = stt.loadSttWorkerConfig({ ...process.env, ...stack.env });
        } catch {
          /* only for the header */
        }
        console.log('');
        console.log(
          `stack up in ${((now() - s0) / 1000).toFixed(1)} s (1 ws-edge, 1 llm-worker, 1 stt-worker, 1 tts-worker, redis, PGlite; ` +
            `scripted LLM, chunks of ${REPLY.chunkSize} chars, no delay)`,
        );
        await pipeline({ stt, stack, redis, cpu: stackCpuMeter(stack, llm), turns, warmup, voice, sttConfig });
      }
    }
  } catch (err) {
    failed = true;
    console.error(`\nbench failed: ${err?.stack ?? err}`);
    printLogTails([...(stack?.edges ?? []), ...(stack?.workers ?? []), ...(stack?.sttWorkers ?? []), ...(stack?.ttsWorkers ?? [])]);
  } finally {
    redis?.disconnect();
    await stack?.stop().catch((err) => ((failed = true), console.error(`stack stop failed: ${err}`)));
    await llm?.stop();
  }
  clearInterval(keepAlive);
  console.log(`\ndone in ${((now() - t0) / 1000).toFixed(1)} s`);
  process.exit(failed ? 1 : 0);
}

/* ------------------------------------------------------------------------------------------------------ */

// Last, so that every class above is initialised before it runs.
await runBench({ main, respond: () => REPLY });
