#!/usr/bin/env node
// Turn latency benchmark: the real stack (isolated redis-server, PGlite, ws-edge and llm-worker as child
// processes) with a scripted LLM that answers at once. Two figures per turn:
//   • user message sent at the socket → first `text_chunk` received on the socket (monotonic clock of
//     this process: performance.now());
//   • user message sent → first sentence entry in `sentence:{conversation}` (the entry's `ts`, written by
//     the llm-worker as performance.timeOrigin + performance.now(); the send time is taken on the same
//     clock here).
// Scenarios: (a) one conversation, turns one after another; (b) N conversations at once, each running its
// turns one after another. Besides the table it prints where the time of a turn goes, rebuilt from the
// `ts` of the stream entries (transcribe → events → sentence), without touching the apps.
//
// Options (env or argv):  BENCH_TURNS / --turns=N (default 2000, per scenario)
//                         BENCH_CONVERSATIONS / --conversations=N (default 50)
//                         BENCH_WARMUP / --warmup=N (default 2000, scenario a; scenario b warms each socket with 1 turn)
//                         BENCH_HARNESS_WARMUP / --harness-warmup=N (default 1000; 0 = off)
//                         BENCH_PAUSE_MS / --pause=MS (default 0: scenario a's counted turns back to back; a person
//                           pauses between turns, and an idle host answers slower than a busy one: see README)
//   The warm-up turns are those a freshly started stack answers while V8 still compiles its hot paths
//   (the first thousand or two turns, at up to 1.5× the CPU per turn); a running server has left them
//   behind, so the target is judged on the turns after them, and the warm-up's own figures are printed too.
//   Before that, BENCH_HARNESS_WARMUP turns on a throwaway stack warm this process and the scripted LLM (they are
//   part of the measurement but not of the product), so that the measured stack starts cold but its harness does not.
// The apps get the caller's environment too (e.g. LLM_CONCURRENCY=64 npm run bench).
//
// Internal: `node bench/turn-latency.mjs --scripted-llm` runs only the scripted LLM (the bench forks it so
// that serving the LLM does not compete with the client sockets for this process's event loop).

import { Redis } from 'ioredis';
import { startStack } from '@chorus/testkit';
import {
  BenchSocketBase,
  cpuText,
  fmt,
  hostInfo,
  loadAverage,
  now,
  option,
  printLogTails,
  readNewEntries,
  runBench,
  stackCpuMeter,
  stackOptions,
  sleep,
  startLlmChild,
  summary,
} from './lib.mjs';

const REPLY = { text: 'Sure. Here it is.', chunkSize: 8 };

/* ------------------------------------------------------------------------------------------------------ */

/** A bench client (see BenchSocketBase): keeps, per turn, when it started and when its first `text_chunk` came. */
class BenchSocket extends BenchSocketBase {
  onTurnMessage(t, msg, at) {
    switch (msg.type) {
      case 'turn_started':
        t.turnId = msg.data.turn_id;
        t.startedAt = at;
        break;
      case 'text_chunk':
        if (t.chunkAt === undefined && !msg.data.is_final) t.chunkAt = at;
        break;
    }
  }

  /** One turn: send, then wait for turn_finished. */
  turn(text, timeoutMs = 15_000) {
    const t = { turnId: undefined, sendAt: 0, sendWall: 0, chunkAt: undefined, startedAt: undefined, finishedAt: undefined, status: undefined, errors: [] };
    return this.sendTurn(t, text, timeoutMs, () => new Error(`turn not finished after ${timeoutMs} ms (turn_id ${t.turnId ?? 'unknown'})`));
  }
}

/* ------------------------------------------------------------------------------------------------------ */

/** Reads the streams after the fact (between turns), keeping only what the figures need, by turn_id. */
class StreamReader {
  constructor(redis) {
    this.redis = redis;
    this.cursors = new Map();
    this.transcribeTs = new Map(); // turn_id → edge ts (just before XADD transcribe)
    this.sentenceTs = new Map(); // turn_id → ts of the first (non-sentinel) sentence
    this.eventTs = new Map(); // turn_id → { turn_started, text_stream_start, text_chunk, turn_finished }
    this.lock = Promise.resolve();
  }

  /** New entries of `key`, each decoded from its `e` field. */
  readNew(key, onEntry) {
    return readNewEntries(this.redis, this.cursors, key, (fields) => {
      const i = fields.indexOf('e');
      if (i >= 0 && i % 2 === 0) onEntry(JSON.parse(fields[i + 1]));
    });
  }

  /** Collects what is new in a conversation's streams and in `transcribe`. */
  collect(conversationId) {
    const run = async () => {
      await this.readNew('transcribe', (e) => this.transcribeTs.set(e.turn_id, e.ts));
      await this.readNew(`sentence:{${conversationId}}`, (e) => {
        if (e.final || !e.text) return;
        const prev = this.sentenceTs.get(e.turn_id);
        if (prev === undefined || e.ts < prev) this.sentenceTs.set(e.turn_id, e.ts);
      });
      await this.readNew(`events:{${conversationId}}`, (e) => {
        let r = this.eventTs.get(e.turn_id);
        if (!r) this.eventTs.set(e.turn_id, (r = {}));
        if (e.type === 'text_chunk' && e.data?.is_final) return;
        if (r[e.type] === undefined) r[e.type] = e.ts;
      });
    };
    this.lock = this.lock.then(run, run);
    return this.lock;
  }
}

/* ------------------------------------------------------------------------------------------------------ */

const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

async function runConversation(socket, reader, turns, results, { collectEvery = 100, pauseMs = 0 } = {}) {
  for (let i = 0; i < turns; i++) {
    const t = await socket.turn(`@Alice tell me something (${i})`);
    t.conversationId = socket.conversationId;
    results.push(t);
    if ((i + 1) % collectEvery === 0) await reader.collect(socket.conversationId);
    if (pauseMs) await sleep(pauseMs);
  }
  await reader.collect(socket.conversationId);
}

/**
 * Runs `turns` turns on a throwaway stack, then stops it: this process (the client sockets) and the scripted
 * LLM child are then past their own V8 warm-up, so the measured stack's warm-up figures are its own.
 */
async function warmHarness(llm, turns) {
  const stack = await startStack(stackOptions(llm));
  const redis = new Redis(stack.redis.url, { connectionName: 'bench-harness-warmup', maxRetriesPerRequest: null });
  try {
    const socket = await BenchSocket.open(stack.edges[0].wsUrl);
    await runConversation(socket, new StreamReader(redis), turns, []);
    await socket.close();
  } finally {
    redis.disconnect();
    await stack.stop();
  }
}

function analyse(name, turns, reader, elapsedS) {
  const bad = turns.filter((t) => t.status !== 'completed' || t.errors.length > 0);
  if (bad.length) {
    const b = bad[0];
    throw new Error(`${name}: ${bad.length} turn(s) did not complete (first: status ${b.status}, errors ${JSON.stringify(b.errors)})`);
  }
  const noChunk = turns.filter((t) => t.chunkAt === undefined);
  if (noChunk.length) throw new Error(`${name}: ${noChunk.length} turn(s) finished without a text_chunk`);
  const noSentence = turns.filter((t) => !reader.sentenceTs.has(t.turnId));
  if (noSentence.length) throw new Error(`${name}: ${noSentence.length} turn(s) have no sentence entry in Redis (stream trimmed?)`);

  const toChunk = turns.map((t) => t.chunkAt - t.sendAt);
  const toSentence = turns.map((t) => reader.sentenceTs.get(t.turnId) - t.sendWall);
  const negative = toSentence.filter((v) => v < 0).length;
  if (negative) console.warn(`warning: ${name}: ${negative} sentence latencies are negative (clock mismatch between processes?)`);

  // Where the time goes (stream entries' ts, all on the wall-ms clock of performance.timeOrigin + now()).
  const hop = (f) => summary(turns.map(f));
  const ev = (t) => reader.eventTs.get(t.turnId) ?? {};
  const hops = [
    ['client send → edge XADD transcribe', hop((t) => reader.transcribeTs.get(t.turnId) - t.sendWall)],
    ['edge XADD → worker turn_started', hop((t) => ev(t).turn_started - reader.transcribeTs.get(t.turnId))],
    ['turn_started → text_stream_start', hop((t) => ev(t).text_stream_start - ev(t).turn_started)],
    ['text_stream_start → 1st text_chunk (LLM)', hop((t) => ev(t).text_chunk - ev(t).text_stream_start)],
    ['1st text_chunk → 1st sentence (worker)', hop((t) => reader.sentenceTs.get(t.turnId) - ev(t).text_chunk)],
    ['1st text_chunk XADD → client receive', hop((t) => performance.timeOrigin + t.chunkAt - ev(t).text_chunk)],
    ['turn_finished XADD → client receive', hop((t) => performance.timeOrigin + t.finishedAt - ev(t).turn_finished)],
  ];
  return { name, n: turns.length, chunk: summary(toChunk), sentence: summary(toSentence), rate: turns.length / elapsedS, elapsedS, hops };
}

function printResults(rows) {
  const W = [18, 38, 6, 8, 8, 8, 8, 9];
  const line = (cells) => cells.map((c, i) => (i < 2 ? pad(c, W[i]) : lpad(c, W[i]))).join(' ');
  const header = line(['scenario', 'metric (ms)', 'turns', 'p50', 'p90', 'p99', 'max', 'turns/s']);
  console.log('');
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const r of rows) {
    for (const [label, s, first] of [
      ['send → first text_chunk (socket)', r.chunk, true],
      ['send → first sentence (redis ts)', r.sentence, false],
    ]) {
      console.log(line([first ? r.name : '', label, s.n, fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max), first ? r.rate.toFixed(1) : '']));
    }
  }
  console.log('');
  const a = rows[0];
  const verdict = (s) => (s.p50 <= 3 && s.p99 <= 10 ? 'PASS' : 'MISS');
  console.log('target: p50 ≤ 3 ms, p99 ≤ 10 ms (one conversation)');
  console.log(`  send → first text_chunk: ${verdict(a.chunk)} (p50 ${fmt(a.chunk.p50)} ms, p99 ${fmt(a.chunk.p99)} ms)`);
  console.log(`  send → first sentence:   ${verdict(a.sentence)} (p50 ${fmt(a.sentence.p50)} ms, p99 ${fmt(a.sentence.p99)} ms)`);

  console.log('');
  console.log('where the time goes (from the stream entries\' ts; ms)');
  const HW = [18, 42, 8, 8, 8, 8];
  const hline = (cells) => cells.map((c, i) => (i < 2 ? pad(c, HW[i]) : lpad(c, HW[i]))).join(' ');
  const hh = hline(['scenario', 'hop', 'p50', 'p90', 'p99', 'max']);
  console.log(hh);
  console.log('-'.repeat(hh.length));
  for (const r of rows) {
    r.hops.forEach(([label, s], i) => console.log(hline([i === 0 ? r.name : '', label, fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.max)])));
  }
  if (rows.every((r) => r.cpu)) {
    console.log('');
    console.log('CPU time per turn (ms, user + system, from /proc)');
    for (const r of rows) console.log(`  ${pad(r.name, 18)} ${cpuText(r.cpu)}`);
  }
}

/* ------------------------------------------------------------------------------------------------------ */

async function main() {
  const turns = option('turns', 'BENCH_TURNS', 2000);
  const conversations = Math.max(1, option('conversations', 'BENCH_CONVERSATIONS', 50));
  const warmup = option('warmup', 'BENCH_WARMUP', 2000);
  const pauseMs = option('pause', 'BENCH_PAUSE_MS', 0);
  if (turns < 1) throw new Error('BENCH_TURNS must be at least 1');

  let t0 = now();
  const started = t0;
  const harnessTurns = option('harness-warmup', 'BENCH_HARNESS_WARMUP', 1000);
  let llm;
  let stack;
  let redis;
  const sockets = [];
  let failed = false;
  try {
    llm = await startLlmChild(import.meta.url);
    if (harnessTurns > 0) await warmHarness(llm, harnessTurns);
    t0 = now();
    stack = await startStack(stackOptions(llm));
    redis = new Redis(stack.redis.url, { connectionName: 'bench-reader', maxRetriesPerRequest: null });
    const reader = new StreamReader(redis);
    const wsUrl = stack.edges[0].wsUrl;
    const cpu = stackCpuMeter(stack, llm);
    console.log(
      `turn-latency bench: ${hostInfo()}, load average ${loadAverage()}, stack up in ${((now() - t0) / 1000).toFixed(1)} s ` +
        `(1 ws-edge, 1 llm-worker, redis, ${process.env.BENCH_DATABASE === 'postgres' ? 'PostgreSQL' : 'PGlite'}; scripted LLM replies "${REPLY.text}" in chunks of ${REPLY.chunkSize}, no delay; ` +
        `bench client and scripted LLM warmed by ${harnessTurns} turns on a throwaway stack)`,
    );

    // (a) one conversation, turns one after another.
    const single = await BenchSocket.open(wsUrl);
    sockets.push(single);
    const warm = [];
    await runConversation(single, reader, warmup, warm);
    const resA = [];
    let cpu0 = cpu.snapshot();
    let start = now();
    await runConversation(single, reader, turns, resA, { pauseMs });
    const elapsedA = (now() - start) / 1000;
    const rowA = analyse('1 conversation', resA, reader, elapsedA);
    rowA.cpu = cpu.per(cpu0, resA.length);
    console.log(
      `(a) 1 conversation: ${resA.length} turns (+${warmup} warm-up) in ${elapsedA.toFixed(2)} s` +
        (pauseMs ? `, ${pauseMs} ms between a turn's turn_finished and the next send` : ', each sent as the previous one finished'),
    );
    if (warm.length) {
      const w = summary(warm.map((t) => t.chunkAt - t.sendAt));
      console.log(`    warm-up (the stack's first ${warm.length} turns, V8 still compiling): send → first text_chunk p50 ${fmt(w.p50)} ms, p99 ${fmt(w.p99)} ms`);
      const win = Math.max(100, Math.ceil(warm.length / 8));
      const parts = [];
      for (let i = 0; i < warm.length; i += win) {
        const s = summary(warm.slice(i, i + win).map((t) => t.chunkAt - t.sendAt));
        parts.push(`${i + 1}–${i + s.n}: ${fmt(s.p50)}/${fmt(s.p99)}`);
      }
      console.log(`    warm-up by turns (p50/p99 ms): ${parts.join(', ')}`);
    }
    await single.close();

    // (b) N conversations at once, each running its turns one after another.
    const perConversation = Math.ceil(turns / conversations);
    const many = await Promise.all(Array.from({ length: conversations }, () => BenchSocket.open(wsUrl)));
    sockets.push(...many);
    await Promise.all(many.map((s) => runConversation(s, reader, 1, [])));
    const resB = [];
    cpu0 = cpu.snapshot();
    start = now();
    await Promise.all(many.map((s) => runConversation(s, reader, perConversation, resB)));
    const elapsedB = (now() - start) / 1000;
    const rowB = analyse(`${conversations} conversations`, resB, reader, elapsedB);
    rowB.cpu = cpu.per(cpu0, resB.length);
    console.log(
      `(b) ${conversations} conversations: ${resB.length} turns (${perConversation} per conversation, +1 warm-up each) in ${elapsedB.toFixed(2)} s`,
    );

    printResults([rowA, rowB]);
  } catch (err) {
    failed = true;
    console.error(`\nbench failed: ${err?.stack ?? err}`);
    printLogTails([...(stack?.edges ?? []), ...(stack?.workers ?? [])]);
  } finally {
    await Promise.all(sockets.map((s) => s.close().catch(() => undefined)));
    redis?.disconnect();
    await stack?.stop().catch((err) => ((failed = true), console.error(`stack stop failed: ${err}`)));
    await llm?.stop();
  }
  console.log(`\ndone in ${((now() - started) / 1000).toFixed(1)} s`);
  process.exit(failed ? 1 : 0);
}

/* ------------------------------------------------------------------------------------------------------ */

// Last, so that every class above is initialised before it runs.
await runBench({ main, respond: () => REPLY });
