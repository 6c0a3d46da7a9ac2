#!/usr/bin/env node
// TTS benchmark: how soon speech starts and how much speech one tts-worker keeps up with.
//
//   [1/3] pipeline latency — the real stack (isolated redis-server, PGlite, one ws-edge, one llm-worker, one
//         tts-worker as child processes) and a scripted LLM that answers at once with a reply of several
//         sentences. One conversation, turns one after another (the next is sent after the turn's
//         `audio_stream_stop`). Per turn:
//           • first sentence entry `ts` → first `audio:{c}:<message>` entry `ts` (the tts-worker's first byte;
//             both written as performance.timeOrigin + performance.now() by the apps),
//           • first sentence entry `ts` → first binary frame received at the socket (same clock, this process),
//           • user message sent → first binary frame received (text in → audio out, this process's clock).
//   [2/3] concurrent conversations — same stack; K conversations at once (K = 1, 2, 4, … until one misses),
//         one turn each (after one uncounted turn), ~10 s of speech per turn. A message is real time when every binary frame arrives no
//         later than (arrival of its first frame + audio before it + slack): a client that starts playing at
//         the first frame never runs dry.
//   [3/3] engine real-time factor — in this process, no stack: each available engine/voice synthesizes a fixed
//         set of sentences; synthesis time / audio duration, and the time to its first chunk.
//
// Options (env or argv):  BENCH_TTS_TURNS / --turns=N (default 100, section 1)
//                         BENCH_TTS_WARMUP / --warmup=N (default 3, uncounted turns before section 1)
//                         BENCH_TTS_MAX_CONVERSATIONS / --max-conversations=N (default 32, section 2)
//                         BENCH_TTS_SLACK_MS / --slack-ms=N (default 250, section 2)
//                         BENCH_TTS_SECTIONS / --sections=latency,realtime,rtf (default all three)
//                         BENCH_TTS_CHARACTER / --character=Alice|Bob (default Alice: voice flite-slt; Bob: flite-rms)
// Section 3 also runs the onnx engine when ONNX_TTS_MODEL is set (ONNX_TTS_VOICES_DIR, ONNX_TTS_PROVIDERS,
// BENCH_ONNX_VOICE) and the openai engine when TTS_OPENAI_BASE_URL is set (TTS_OPENAI_API_KEY,
// TTS_OPENAI_MODEL, BENCH_OPENAI_VOICE). The apps get the caller's environment too (e.g. TTS_CONCURRENCY=32).
//
// Internal: `node bench/tts-latency.mjs --scripted-llm` runs only the scripted LLM (forked by the bench so that
// serving the LLM does not compete with the client sockets for this process's event loop).

import { readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { AudioEntry, decodeEntry, SentenceEntry, STREAMS } from '@chorus/contracts';
import { startStack } from '@chorus/testkit';
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
  table,
  stackCpuMeter,
  stackOptions,
  startLlmChild,
  summary,
} from './lib.mjs';

/** Section 1: a few sentences, the first one of ordinary length (≈ 8 s of speech with flite slt). */
const SHORT_REPLY = 'Sure, I can tell you about that. The dust storms on Mars can cover the whole planet. They last for weeks, and the sky turns orange.';
/** Section 2: ≈ 10 s of speech (asked for with "long story" in the user message). */
const LONG_REPLY =
  'Once upon a time, a small robot lived on a quiet moon. Every morning it climbed a crater to watch the blue planet rise. ' +
  'One day, a signal finally arrived.';
const CHUNK_SIZE = 8;

/** Section 3: sentences of various lengths. */
const RTF_SENTENCES = [
  'Yes.',
  'Hello there!',
  'Well, it depends.',
  'I think that is a good idea.',
  'The train leaves at half past seven, so we should hurry.',
  'Honestly, I have never seen a sunset quite like this one before.',
  'Did you remember to bring the map, or should we ask someone for directions?',
  'Thank you so much for your help today; I really could not have done it without you.',
  'The dust storms on Mars can cover the whole planet, and they can last for weeks at a time before the sky clears again.',
  'If we leave the city early tomorrow morning, we can reach the coast before noon, have lunch by the harbour, and still be back home in time for dinner.',
];
const FLITE_VOICES = ['kal16', 'rms', 'slt', 'awb', 'kal'];
const CHARACTERS = { Alice: 'flite-slt', Bob: 'flite-rms' };

/* ------------------------------------------------------------------------------------------------------ */

/** The scripted LLM's answer: the long reply when the last user message asks for a "long story". */
function respond(req) {
  const m = [...(req.body?.messages ?? [])].reverse().find((x) => x?.role === 'user');
  const lastUser = typeof m?.content === 'string' ? m.content : JSON.stringify(m?.content ?? '');
  return { text: lastUser.includes('long story') ? LONG_REPLY : SHORT_REPLY, chunkSize: CHUNK_SIZE };
}

/* ------------------------------------------------------------------------------------------------------ */

/**
 * A bench client (see BenchSocketBase). Keeps, per spoken message, the arrival time and sample count of every
 * binary frame (not the PCM itself).
 */
class BenchSocket extends BenchSocketBase {
  constructor(ws) {
    super(ws);
    this.frameTo = undefined; // message that the next binary frame belongs to (the last audio_chunk's)
  }

  message(id) {
    const t = this.current;
    if (!t) return undefined;
    let m = t.messages.get(id);
    if (!m) t.messages.set(id, (m = { id, sampleRate: 0, startAt: undefined, stopAt: undefined, frames: [] }));
    return m;
  }

  onBinary(raw, at) {
    const m = this.frameTo;
    if (!m) return;
    this.frameTo = undefined;
    m.frames.push({ at, samples: raw.length >> 1 });
  }

  onTurnMessage(t, msg, at) {
    switch (msg.type) {
      case 'turn_started':
        t.turnId = msg.data.turn_id;
        for (const r of msg.data.responders ?? []) this.message(r.message_id);
        break;
      case 'audio_stream_start': {
        const m = this.message(msg.data.message_id);
        m.sampleRate = msg.data.sample_rate;
        m.startAt = at;
        break;
      }
      case 'audio_chunk':
        this.frameTo = this.message(msg.data.message_id);
        break;
      case 'audio_stream_stop':
        this.message(msg.data.message_id).stopAt = at;
        t.check();
        break;
    }
  }

  /** A turn is over when it has finished and, if completed, every responder's audio has stopped. */
  turnFinished(t) {
    t.check();
  }

  /** One turn: send, then wait for `turn_finished` and the `audio_stream_stop` of every responder's message. */
  turn(text, timeoutMs = 30_000) {
    const t = { text, turnId: undefined, sendAt: 0, sendWall: 0, finishedAt: undefined, status: undefined, errors: [], messages: new Map() };
    t.check = () => {
      if (t.finishedAt === undefined) return;
      if (t.status === 'completed' && [...t.messages.values()].some((m) => m.stopAt === undefined)) return;
      t.done();
    };
    this.frameTo = undefined;
    return this.sendTurn(t, text, timeoutMs, () => {
      const what = t.finishedAt === undefined ? 'turn_finished' : 'audio_stream_stop';
      return Object.assign(new Error(`no ${what} after ${timeoutMs} ms (turn_id ${t.turnId ?? 'unknown'})`), { turn: t });
    });
  }
}

/** Throws when a turn did not complete or spoke no audio. */
function checkTurn(t, where) {
  if (t.status !== 'completed' || t.errors.length) {
    throw new Error(`${where}: turn ${t.turnId} did not complete (status ${t.status}, errors ${JSON.stringify(t.errors)})`);
  }
  if (t.messages.size === 0) throw new Error(`${where}: turn ${t.turnId} had no responder`);
  for (const m of t.messages.values()) {
    if (!m.frames.length) throw new Error(`${where}: message ${m.id} ended without audio`);
  }
}

/* ------------------------------------------------------------------------------------------------------ */

/** Reads the streams after the fact (between turns), keeping only the `ts` the figures need, by message_id. */
class StreamReader {
  constructor(redis) {
    this.redis = redis;
    this.cursors = new Map();
    this.sentenceTs = new Map(); // message_id → ts of its first (non-sentinel) sentence
    this.sentences = new Map(); // message_id → sentence count
    this.audioTs = new Map(); // message_id → ts of its first audio entry
  }

  async collect(conversationId, messageIds) {
    await readNewEntries(this.redis, this.cursors, STREAMS.sentence(conversationId), (fields) => {
      const e = decodeEntry(SentenceEntry, fields);
      if (e.final || !e.text) return;
      const prev = this.sentenceTs.get(e.message_id);
      if (prev === undefined || e.ts < prev) this.sentenceTs.set(e.message_id, e.ts);
      this.sentences.set(e.message_id, (this.sentences.get(e.message_id) ?? 0) + 1);
    });
    const todo = messageIds.filter((id) => !this.audioTs.has(id));
    if (!todo.length) return;
    const p = this.redis.pipeline();
    for (const id of todo) p.xrange(STREAMS.audio(conversationId, id), '-', '+', 'COUNT', 1);
    const res = await p.exec();
    res.forEach(([err, entries], i) => {
      if (err) throw err;
      if (entries?.length) this.audioTs.set(todo[i], decodeEntry(AudioEntry, entries[0][1]).ts);
    });
  }
}

/* ------------------------------------------------------------------------------------------------------ */

const sum = (xs) => xs.reduce((a, b) => a + b, 0);


const audioMs = (m) => (m.sampleRate ? (sum(m.frames.map((f) => f.samples)) / m.sampleRate) * 1000 : NaN);

/**
 * How late the message's worst frame came against a player that starts at the first frame: max over frames
 * of (arrival − first arrival − audio before it), ms. ≤ slack means the player never runs dry.
 */
function worstLateness(m) {
  if (!m.frames.length || !m.sampleRate) return Infinity;
  const t0 = m.frames[0].at;
  let before = 0;
  let worst = -Infinity;
  for (const f of m.frames) {
    worst = Math.max(worst, f.at - t0 - (before / m.sampleRate) * 1000);
    before += f.samples;
  }
  return worst;
}

/* ------------------------------------------------------------------------------------------------------ */

/** [1/3] One conversation, turns one after another; figures from the socket and the streams' `ts`. */
async function pipelineLatency({ stack, redis, cpu, turns, warmup, character }) {
  console.log('');
  console.log(
    `[1/3] pipeline latency: 1 conversation, ${turns} turns (+${warmup} warm-up), "@${character} …" (voice ${CHARACTERS[character]}), ` +
      `scripted reply "${SHORT_REPLY.slice(0, 32)}…" (${SHORT_REPLY.length} chars) at once; load average ${loadAverage()}`,
  );
  const reader = new StreamReader(redis);
  const socket = await BenchSocket.open(stack.edges[0].wsUrl);
  const results = [];
  let cpu0;
  let start = 0;
  try {
    for (let i = -warmup; i < turns; i++) {
      if (i === 0) {
        cpu0 = cpu.snapshot();
        start = now();
      }
      const t = await socket.turn(`@${character} tell me something (${i})`);
      checkTurn(t, 'pipeline latency');
      if (i >= 0) results.push(t);
      if ((i + 1) % 25 === 0 || i === turns - 1) {
        const ids = results.flatMap((r) => [...r.messages.keys()]);
        await reader.collect(socket.conversationId, ids);
      }
    }
  } finally {
    await socket.close();
  }
  const elapsedS = (now() - start) / 1000;
  const cpuPerTurn = cpu.per(cpu0, results.length);

  const msgs = results.map((t) => ({ t, m: [...t.messages.values()][0] }));
  const missing = msgs.filter(({ m }) => !reader.sentenceTs.has(m.id) || !reader.audioTs.has(m.id));
  if (missing.length) throw new Error(`pipeline latency: ${missing.length} message(s) have no sentence or audio entry in Redis (stream trimmed?)`);

  const sentenceTs = (m) => reader.sentenceTs.get(m.id);
  const audioTs = (m) => reader.audioTs.get(m.id);
  const firstFrameWall = (m) => performance.timeOrigin + m.frames[0].at;
  const tts = summary(msgs.map(({ m }) => audioTs(m) - sentenceTs(m)));
  const toSocket = summary(msgs.map(({ m }) => firstFrameWall(m) - sentenceTs(m)));
  const e2e = summary(msgs.map(({ t, m }) => m.frames[0].at - t.sendAt));
  const negative = msgs.filter(({ m }) => audioTs(m) < sentenceTs(m)).length;
  if (negative) console.warn(`warning: ${negative} TTS latencies are negative (clock mismatch between processes?)`);

  const audioS = summary(msgs.map(({ m }) => audioMs(m) / 1000));
  const sentences = summary(msgs.map(({ m }) => reader.sentences.get(m.id)));
  console.log(
    `  ${results.length} turns in ${elapsedS.toFixed(1)} s (${(results.length / elapsedS).toFixed(1)} turns/s); ` +
      `${sentences.p50} sentences and ${fmt(audioS.p50)} s of audio at ${msgs[0].m.sampleRate} Hz per message`,
  );
  console.log('');
  const row = (label, s) => [label, s.n, fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max)];
  table(
    ['metric (ms)', 'n', 'p50', 'p90', 'p99', 'max'],
    [
      row('sentence entry → first audio entry (TTS first byte)', tts),
      row('sentence entry → first binary frame at the socket', toSocket),
      row('user message sent → first binary frame (end to end)', e2e),
    ],
  );
  console.log('');
  console.log(`  target: flite first audio ≤ 60 ms after the sentence entry: ${tts.p50 <= 60 ? 'PASS' : 'MISS'} (p50 ${fmt(tts.p50)} ms)`);

  console.log('');
  console.log("  where the time goes (ms; streams' ts and this process's clock)");
  table(
    ['hop', 'p50', 'p90', 'p99', 'max'],
    /** @type {[string, ReturnType<typeof summary>][]} */ ([
      ['user message sent → first sentence entry (edge, llm-worker)', summary(msgs.map(({ t, m }) => sentenceTs(m) - t.sendWall))],
      ['first sentence entry → first audio entry (tts-worker)', tts],
      ['first audio entry → first binary frame (edge relay)', summary(msgs.map(({ m }) => firstFrameWall(m) - audioTs(m)))],
      ['first binary frame → audio_stream_stop (rest of message)', summary(msgs.map(({ m }) => m.stopAt - m.frames[0].at))],
    ]).map(([label, s]) => [label, fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max)]),
  );
  if (cpuPerTurn) {
    console.log('');
    console.log(`  CPU time per turn (ms, user + system, from /proc): ${cpuText(cpuPerTurn)}`);
  }
  return { tts };
}

/* ------------------------------------------------------------------------------------------------------ */

/** [2/3] K conversations at once, one long turn each; is every message's audio at the socket real time? */
async function concurrentConversations({ stack, cpu, maxK, slackMs, character, ttsConfig }) {
  console.log('');
  console.log(
    `[2/3] concurrent conversations on 1 tts-worker (TTS_CONCURRENCY ${ttsConfig?.TTS_CONCURRENCY ?? '?'}, TTS_THREADS ${ttsConfig?.TTS_THREADS ?? '?'}): ` +
      `K conversations at once, 1 turn each after 1 uncounted turn ("@${character} … long story", ${LONG_REPLY.length} chars); real time = every frame arrives ` +
      `≤ first frame + audio before it + ${slackMs} ms; load average ${loadAverage()}`,
  );
  console.log('');
  const ks = [];
  for (let k = 1; k <= maxK; k *= 2) ks.push(k);
  if (ks.at(-1) !== maxK && maxK > 0) ks.push(maxK);
  // One uncounted turn first, so that K=1 does not pay for a voice's first use when section 1 did not run.
  const warm = await BenchSocket.open(stack.edges[0].wsUrl);
  try {
    checkTurn(await warm.turn(`@${character} tell me a long story (warm-up)`), 'concurrent conversations (warm-up)');
  } finally {
    await warm.close();
  }
  const rows = [];
  const notes = [];
  let best = 0;
  for (const k of ks) {
    const sockets = await Promise.all(Array.from({ length: k }, () => BenchSocket.open(stack.edges[0].wsUrl)));
    const cpu0 = cpu.snapshot();
    const timeoutMs = 60_000 + k * 2_000;
    let outcomes;
    try {
      outcomes = await Promise.all(
        sockets.map((s, i) =>
          s.turn(`@${character} tell me a long story (${k}-${i})`, timeoutMs).then(
            (t) => ({ t }),
            (err) => ({ t: err.turn, err }),
          ),
        ),
      );
    } finally {
      await Promise.all(sockets.map((s) => s.close().catch(() => undefined)));
    }
    const done = outcomes.filter((o) => !o.err);
    const incomplete = outcomes.length - done.length;
    if (incomplete && k === 1) throw outcomes.find((o) => o.err).err;
    for (const { t } of done) checkTurn(t, `concurrent conversations (K=${k})`);
    const msgs = done.flatMap(({ t }) => [...t.messages.values()].map((m) => ({ t, m })));
    const totalAudioS = sum(msgs.map(({ m }) => audioMs(m))) / 1000;
    const cpuPerAudioS = totalAudioS > 0 ? cpu.per(cpu0, totalAudioS) : undefined;
    const lateness = msgs.map(({ m }) => worstLateness(m));
    const realTime = lateness.filter((v) => v <= slackMs).length;
    const ok = incomplete === 0 && realTime === k;
    const firstAudio = summary(msgs.map(({ t, m }) => m.frames[0].at - t.sendAt));
    const late = summary(lateness);
    const cpuOf = (name) => fmt(cpuPerAudioS?.find(([n]) => n === name)?.[1], 1);
    rows.push([
      k,
      `${realTime}/${k}`,
      fmt(firstAudio.p50, 0),
      fmt(firstAudio.max, 0),
      fmt(late.p50, 0),
      fmt(late.max, 0),
      fmt(totalAudioS / Math.max(1, msgs.length), 1),
      cpuOf('tts-worker'),
      cpuOf('ws-edge'),
      cpuOf('redis'),
      ok ? 'real time' : 'MISS',
    ]);
    if (incomplete) notes.push(`K=${k}: ${incomplete} turn(s) did not finish within ${timeoutMs / 1000} s (${outcomes.find((o) => o.err).err.message})`);
    if (!ok) break;
    best = k;
  }
  table(
    ['K', 'real time', 'send→1st frame p50', 'max', 'worst lateness p50', 'max', 'audio s/msg', 'CPU ms/audio s: tts', 'edge', 'redis', ''],
    rows,
    { left: 0 },
  );
  console.log('  (times in ms; lateness = arrival − first frame − audio before the frame, worst frame of each message)');
  for (const n of notes) console.log(`  note: ${n}`);
  console.log('');
  const stoppedAt = rows.at(-1)?.at(-1) === 'MISS' ? `; K=${rows.at(-1)[0]} missed` : `; not tried beyond K=${best} (BENCH_TTS_MAX_CONVERSATIONS)`;
  console.log(`  largest K with every conversation in real time: ${best || 'none'}${stoppedAt}`);
  return { best };
}

/* ------------------------------------------------------------------------------------------------------ */

/** [3/3] Each available engine/voice in this process: synthesis time / audio duration, time to first chunk. */
async function engineRtf() {
  console.log('');
  console.log(
    `[3/3] engine real-time factor (in this process, no stack): ${RTF_SENTENCES.length} sentences of ${Math.min(...RTF_SENTENCES.map((s) => s.length))}–` +
      `${Math.max(...RTF_SENTENCES.map((s) => s.length))} chars, one after another, after 1 uncounted call per voice; load average ${loadAverage()}`,
  );
  let engines;
  try {
    engines = await import('@chorus/tts-worker');
  } catch (err) {
    throw new Error(`cannot load the TTS engines from apps/tts-worker/dist (run npm run build first): ${err.message}`);
  }
  const base = { threads: 1, onnxProviders: ['cpu'], openaiModel: process.env.TTS_OPENAI_MODEL || 'tts-1' };
  const plans = [{ engine: 'flite', options: base, voices: FLITE_VOICES.map((v) => ({ id: `flite-${v}`, name: v, engine: 'flite', params: { voice: v } })) }];
  const skipped = [];

  if (process.env.ONNX_TTS_MODEL) {
    const voicesDir = process.env.ONNX_TTS_VOICES_DIR;
    let voice = process.env.BENCH_ONNX_VOICE;
    if (!voice && voicesDir) {
      try {
        voice = readdirSync(voicesDir).find((f) => f.endsWith('.bin'))?.slice(0, -4);
      } catch {
        /* reported by the engine */
      }
    }
    voice ??= 'af_heart';
    const providers = (process.env.ONNX_TTS_PROVIDERS || 'cuda,cpu').split(',').map((s) => s.trim()).filter(Boolean);
    plans.push({
      engine: 'onnx',
      options: { ...base, onnxModelPath: process.env.ONNX_TTS_MODEL, onnxVoicesDir: voicesDir, onnxProviders: providers },
      voices: [{ id: `onnx-${voice}`, name: voice, engine: 'onnx', params: { voice } }],
    });
  } else {
    skipped.push('onnx: skipped, ONNX_TTS_MODEL is not set (a Kokoro-style .onnx model; ONNX_TTS_VOICES_DIR for its voices)');
  }
  if (process.env.TTS_OPENAI_BASE_URL) {
    const voice = process.env.BENCH_OPENAI_VOICE || 'alloy';
    plans.push({
      engine: 'openai',
      options: { ...base, openaiBaseUrl: process.env.TTS_OPENAI_BASE_URL, openaiApiKey: process.env.TTS_OPENAI_API_KEY },
      voices: [{ id: `openai-${voice}`, name: voice, engine: 'openai', params: { voice } }],
    });
  } else {
    skipped.push('openai: skipped, TTS_OPENAI_BASE_URL is not set');
  }

  const rows = [];
  for (const plan of plans) {
    const engine = engines.TTS_ENGINES[plan.engine].create(plan.options);
    try {
      if (plan.engine === 'onnx') plan.label = `onnx (${await /** @type {import('@chorus/tts-worker').OnnxEngine} */ (engine).provider()})`;
      for (const voice of plan.voices) {
        engine.validate(voice);
        const rate = engine.sampleRate(voice);
        const synth = async (text) => {
          const t0 = now();
          let first;
          let samples = 0;
          for await (const pcm of engine.synthesize({ text, voice })) {
            first ??= now() - t0;
            samples += pcm.length;
          }
          if (!samples) throw new Error(`${plan.engine}/${voice.name}: no audio for "${text}"`);
          return { first, totalMs: now() - t0, audioMs: (samples / rate) * 1000 };
        };
        const cold = await synth(RTF_SENTENCES[3]);
        const cpu0 = cpuMs(process.pid);
        const runs = [];
        for (const text of RTF_SENTENCES) runs.push(await synth(text));
        const audioS = sum(runs.map((r) => r.audioMs)) / 1000;
        const synthS = sum(runs.map((r) => r.totalMs)) / 1000;
        const first = summary(runs.map((r) => r.first));
        const cpuPerAudioS = (cpuMs(process.pid) - cpu0) / audioS;
        rows.push([
          plan.label ?? plan.engine,
          voice.name,
          rate,
          fmt(audioS, 1),
          fmt(synthS, 2),
          fmt(synthS / audioS, 3),
          fmt(first.p50, 1),
          fmt(first.p90, 1),
          fmt(first.max, 1),
          fmt(cold.totalMs, 0),
          fmt(cpuPerAudioS, 0),
        ]);
      }
    } finally {
      await engine.close();
    }
  }
  console.log('');
  table(['engine', 'voice', 'Hz', 'audio s', 'synth s', 'RTF', '1st chunk p50', 'p90', 'max', 'cold call', 'CPU ms/audio s'], rows, { left: 2 });
  console.log('  (ms unless noted; RTF = synthesis time / audio duration, < 1 is faster than real time; cold call = first call of the voice,');
  console.log('   uncounted; CPU = this process incl. its engine threads, so it also counts the bench itself)');
  for (const s of skipped) console.log(`  ${s}`);
}

/* ------------------------------------------------------------------------------------------------------ */

async function main() {
  const turns = option('turns', 'BENCH_TTS_TURNS', 100);
  const warmup = option('warmup', 'BENCH_TTS_WARMUP', 3);
  const maxK = option('max-conversations', 'BENCH_TTS_MAX_CONVERSATIONS', 32);
  const slackMs = option('slack-ms', 'BENCH_TTS_SLACK_MS', 250);
  const sections = listOption('sections', 'BENCH_TTS_SECTIONS', ['latency', 'realtime', 'rtf']);
  const character = rawOption('character', 'BENCH_TTS_CHARACTER') || 'Alice';
  if (!Object.hasOwn(CHARACTERS, character)) throw new Error(`BENCH_TTS_CHARACTER / --character: use ${Object.keys(CHARACTERS).join(' or ')}`);
  if (turns < 1) throw new Error('BENCH_TTS_TURNS must be at least 1');

  const t0 = now();
  console.log(
    `tts-latency bench: ${hostInfo()}, load average ${loadAverage(3)}; ` +
      `sections ${[...sections].join(', ')}`,
  );
  let llm;
  let stack;
  let redis;
  let failed = false;
  try {
    if (sections.has('latency') || sections.has('realtime')) {
      llm = await startLlmChild(import.meta.url);
      stack = await startStack(
        stackOptions(llm, {
          ttsWorkers: 1,
          // Production timings rather than the tests' fast ones: the edge waits 20 s (not 5 s) for a message's
          // audio, which matters when a tts-worker has more messages queued than TTS_CONCURRENCY.
          env: { TTS_CLAIM_IDLE_MS: process.env.TTS_CLAIM_IDLE_MS ?? '3000', AUDIO_WAIT_MS: process.env.AUDIO_WAIT_MS ?? '20000' },
        }),
      );
      redis = new Redis(stack.redis.url, { connectionName: 'bench-reader', maxRetriesPerRequest: null });
      let ttsConfig;
      try {
        const { loadTtsWorkerConfig } = await import('@chorus/tts-worker');
        ttsConfig = loadTtsWorkerConfig({ ...process.env, ...stack.env });
      } catch {
        /* only for the header */
      }
      const cpu = stackCpuMeter(stack, llm);
      console.log(
        `stack up in ${((now() - t0) / 1000).toFixed(1)} s (1 ws-edge, 1 llm-worker, 1 tts-worker, redis, PGlite; scripted LLM, chunks of ${CHUNK_SIZE} chars, no delay)`,
      );
      if (sections.has('latency')) await pipelineLatency({ stack, redis, cpu, turns, warmup, character });
      if (sections.has('realtime')) await concurrentConversations({ stack, cpu, maxK, slackMs, character, ttsConfig });
      redis.disconnect();
      redis = undefined;
      await stack.stop();
      stack = undefined;
      await llm.stop();
      llm = undefined;
    }
    if (sections.has('rtf')) await engineRtf();
  } catch (err) {
    failed = true;
    console.error(`\nbench failed: ${err?.stack ?? err}`);
    printLogTails([...(stack?.edges ?? []), ...(stack?.workers ?? []), ...(stack?.ttsWorkers ?? [])]);
  } finally {
    redis?.disconnect();
    await stack?.stop().catch((err) => ((failed = true), console.error(`stack stop failed: ${err}`)));
    await llm?.stop();
  }
  console.log(`\ndone in ${((now() - t0) / 1000).toFixed(1)} s`);
  process.exit(failed ? 1 : 0);
}

/* ------------------------------------------------------------------------------------------------------ */

// Last, so that every class above is initialised before it runs.
await runBench({ main, respond });
