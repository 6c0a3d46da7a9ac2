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
// Options (env or argv):  BENCH_TURNS / --turns=N (default 500, per scenario)
//                         BENCH_CONVERSATIONS / --conversations=N (default 50)
//                         BENCH_WARMUP / --warmup=N (default 20, scenario a; scenario b warms each socket with 1 turn)
// The apps get the caller's environment too (e.g. LLM_CONCURRENCY=64 npm run bench).
//
// Internal: `node bench/turn-latency.mjs --scripted-llm` runs only the scripted LLM (the bench forks it so
// that serving the LLM does not compete with the client sockets for this process's event loop).

import { fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { startScriptedLlm, startStack } from '@chorus/testkit';

const REPLY = { text: 'Sure. Here it is.', chunkSize: 8 };
const now = () => performance.now();

/* ------------------------------------------------------------------------------------------------------ */

async function runScriptedLlmChild() {
  const llm = await startScriptedLlm();
  llm.respond(() => REPLY);
  // Keep no history of requests: this process lives for the whole run.
  const origPush = llm.requests.push.bind(llm.requests);
  llm.requests.push = (...r) => {
    const n = origPush(...r);
    llm.requests.length = 0;
    return n;
  };
  process.send({ url: llm.url });
  process.on('disconnect', () => void llm.close().finally(() => process.exit(0)));
}

function option(name, envName, dflt) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const raw = arg ? arg.slice(name.length + 3) : process.env[envName];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${envName} / --${name}: expected a non-negative integer, got "${raw}"`);
  return n;
}

async function startLlmChild() {
  const child = fork(fileURLToPath(import.meta.url), ['--scripted-llm'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('scripted LLM child did not start in 15 s')), 15_000);
    child.once('message', (m) => (clearTimeout(t), resolve(m.url)));
    child.once('exit', (code) => reject(new Error(`scripted LLM child exited (code ${code})`)));
  });
  return {
    url,
    pid: child.pid,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/* ------------------------------------------------------------------------------------------------------ */

/** CPU time (user + system, ms) of a process from /proc (Linux); NaN elsewhere. */
function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** Pid of the process whose command line contains `needle` (the redis-server renames itself `redis-server HOST:PORT`). */
function findPid(needle) {
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) return Number(d);
      } catch {
        /* gone */
      }
    }
  } catch {
    /* no /proc */
  }
  return undefined;
}

/** CPU spent by each process of the stack between two snapshots, per counted turn. */
class CpuMeter {
  constructor(pids) {
    this.pids = Object.entries(pids).filter(([, pid]) => pid !== undefined);
  }
  snapshot() {
    return this.pids.map(([, pid]) => cpuMs(pid));
  }
  perTurn(before, turns) {
    const after = this.snapshot();
    const parts = this.pids.map(([name], i) => [name, (after[i] - before[i]) / turns]);
    return parts.every(([, v]) => Number.isFinite(v)) ? parts : undefined;
  }
}

/** A bench client: raw `ws`, receive times from performance.now() taken first thing in the handler. */
class BenchSocket {
  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: 10_000, perMessageDeflate: false });
      const s = new BenchSocket(ws);
      const t = setTimeout(() => (ws.terminate(), reject(new Error('no session_started within 10 s'))), 10_000);
      s.onSession = (data) => (clearTimeout(t), resolve(s), void data);
      ws.once('error', (err) => (clearTimeout(t), reject(err)));
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.conversationId = undefined;
    this.current = undefined;
    this.closed = false;
    ws.on('message', (raw, isBinary) => {
      const at = now();
      if (isBinary) return;
      const msg = JSON.parse(raw.toString('utf8'));
      this.onMessage(msg, at);
    });
    ws.on('close', () => {
      this.closed = true;
      this.current?.fail(new Error('socket closed during a turn'));
    });
    ws.on('error', () => {});
  }

  onMessage(msg, at) {
    if (msg.type === 'session_started') {
      this.conversationId = msg.data.conversation_id;
      this.onSession?.(msg.data);
      return;
    }
    const t = this.current;
    if (!t) return;
    switch (msg.type) {
      case 'turn_started':
        t.turnId = msg.data.turn_id;
        t.startedAt = at;
        break;
      case 'text_chunk':
        if (t.chunkAt === undefined && !msg.data.is_final) t.chunkAt = at;
        break;
      case 'error':
        t.errors.push(msg.data?.message ?? JSON.stringify(msg.data));
        break;
      case 'turn_finished':
        t.finishedAt = at;
        t.status = msg.data.status;
        t.done();
        break;
    }
  }

  /** One turn: send, then wait for turn_finished. */
  turn(text, timeoutMs = 15_000) {
    if (this.closed) return Promise.reject(new Error('socket is closed'));
    return new Promise((resolve, reject) => {
      const frame = JSON.stringify({ type: 'user_message', data: { text } });
      const t = { turnId: undefined, sendAt: 0, sendWall: 0, chunkAt: undefined, startedAt: undefined, finishedAt: undefined, status: undefined, errors: [] };
      const timer = setTimeout(() => t.fail(new Error(`turn not finished after ${timeoutMs} ms (turn_id ${t.turnId ?? 'unknown'})`)), timeoutMs);
      t.done = () => {
        clearTimeout(timer);
        this.current = undefined;
        resolve(t);
      };
      t.fail = (err) => {
        clearTimeout(timer);
        this.current = undefined;
        reject(err);
      };
      this.current = t;
      t.sendAt = now();
      t.sendWall = performance.timeOrigin + t.sendAt;
      this.ws.send(frame);
    });
  }

  close() {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', resolve);
      this.ws.close(1000);
      setTimeout(() => (this.ws.terminate(), resolve()), 2000).unref();
    });
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

  async readNew(key, onEntry) {
    for (;;) {
      const from = this.cursors.get(key);
      const entries = await this.redis.xrange(key, from ? `(${from}` : '-', '+', 'COUNT', 1000);
      if (entries.length === 0) return;
      this.cursors.set(key, entries[entries.length - 1][0]);
      for (const [, fields] of entries) {
        const i = fields.indexOf('e');
        if (i >= 0 && i % 2 === 0) onEntry(JSON.parse(fields[i + 1]));
      }
      if (entries.length < 1000) return;
    }
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

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function summary(values) {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s[s.length - 1] ?? NaN, min: s[0] ?? NaN };
}

const fmt = (v) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

async function runConversation(socket, reader, turns, results, { collectEvery = 100, counted = true } = {}) {
  for (let i = 0; i < turns; i++) {
    const t = await socket.turn(`@Alice tell me something (${i})`);
    t.conversationId = socket.conversationId;
    if (counted) results.push(t);
    if ((i + 1) % collectEvery === 0) await reader.collect(socket.conversationId);
  }
  await reader.collect(socket.conversationId);
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
    for (const r of rows) console.log(`  ${pad(r.name, 18)} ${r.cpu.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  }
}

/* ------------------------------------------------------------------------------------------------------ */

async function main() {
  const turns = option('turns', 'BENCH_TURNS', 500);
  const conversations = Math.max(1, option('conversations', 'BENCH_CONVERSATIONS', 50));
  const warmup = option('warmup', 'BENCH_WARMUP', 20);
  if (turns < 1) throw new Error('BENCH_TURNS must be at least 1');

  const t0 = now();
  let llm;
  let stack;
  let redis;
  const sockets = [];
  let failed = false;
  try {
    llm = await startLlmChild();
    stack = await startStack({
      edges: 1,
      llmWorkers: 1,
      database: process.env.BENCH_DATABASE === 'postgres' ? 'postgres' : 'pglite',
      // startStack waits for the info-level "ready" lines, so LOG_LEVEL stays info (the apps log nothing
      // per turn at info). Lock/claim timings as in production rather than the tests' fast ones.
      env: { LOG_LEVEL: 'info', TURN_CLAIM_IDLE_MS: process.env.TURN_CLAIM_IDLE_MS ?? '5000' },
      llm: { url: llm.url, close: async () => {} },
    });
    redis = new Redis(stack.redis.url, { connectionName: 'bench-reader', maxRetriesPerRequest: null });
    const reader = new StreamReader(redis);
    const wsUrl = stack.edges[0].wsUrl;
    const cpu = new CpuMeter({
      'ws-edge': stack.edges[0].proc.pid,
      'llm-worker': stack.workers[0].proc.pid,
      redis: findPid(`127.0.0.1:${new URL(stack.redis.url).port}`),
      'scripted LLM': llm.pid,
      bench: process.pid,
    });
    console.log(
      `turn-latency bench: node ${process.version}, ${os.cpus().length} CPU(s), load average ${os.loadavg()[0].toFixed(2)}, stack up in ${((now() - t0) / 1000).toFixed(1)} s ` +
        `(1 ws-edge, 1 llm-worker, redis, PGlite; scripted LLM replies "${REPLY.text}" in chunks of ${REPLY.chunkSize}, no delay)`,
    );

    // (a) one conversation, turns one after another.
    const single = await BenchSocket.open(wsUrl);
    sockets.push(single);
    await runConversation(single, reader, warmup, [], { counted: false });
    const resA = [];
    let cpu0 = cpu.snapshot();
    let start = now();
    await runConversation(single, reader, turns, resA);
    const elapsedA = (now() - start) / 1000;
    const rowA = analyse('1 conversation', resA, reader, elapsedA);
    rowA.cpu = cpu.perTurn(cpu0, resA.length);
    console.log(`(a) 1 conversation: ${resA.length} turns (+${warmup} warm-up) in ${elapsedA.toFixed(2)} s`);
    await single.close();

    // (b) N conversations at once, each running its turns one after another.
    const perConversation = Math.ceil(turns / conversations);
    const many = await Promise.all(Array.from({ length: conversations }, () => BenchSocket.open(wsUrl)));
    sockets.push(...many);
    await Promise.all(many.map((s) => runConversation(s, reader, 1, [], { counted: false })));
    const resB = [];
    cpu0 = cpu.snapshot();
    start = now();
    await Promise.all(many.map((s) => runConversation(s, reader, perConversation, resB)));
    const elapsedB = (now() - start) / 1000;
    const rowB = analyse(`${conversations} conversations`, resB, reader, elapsedB);
    rowB.cpu = cpu.perTurn(cpu0, resB.length);
    console.log(
      `(b) ${conversations} conversations: ${resB.length} turns (${perConversation} per conversation, +1 warm-up each) in ${elapsedB.toFixed(2)} s`,
    );

    printResults([rowA, rowB]);
  } catch (err) {
    failed = true;
    console.error(`\nbench failed: ${err?.stack ?? err}`);
    for (const p of [...(stack?.edges ?? []), ...(stack?.workers ?? [])]) {
      const tail = p.logs.slice(-15).join('\n');
      if (tail) console.error(`--- last log lines of ${p.name} ---\n${tail}`);
    }
  } finally {
    await Promise.all(sockets.map((s) => s.close().catch(() => undefined)));
    redis?.disconnect();
    await stack?.stop().catch((err) => ((failed = true), console.error(`stack stop failed: ${err}`)));
    await llm?.stop();
  }
  console.log(`\ndone in ${((now() - t0) / 1000).toFixed(1)} s`);
  process.exit(failed ? 1 : 0);
}

/* ------------------------------------------------------------------------------------------------------ */

// Last, so that every class above is initialised before it runs.
if (process.argv.includes('--scripted-llm')) {
  await runScriptedLlmChild();
} else {
  await main().catch((err) => {
    console.error(`bench failed: ${err?.message ?? err}`);
    process.exit(1);
  });
}
