// Pieces shared by the benches in this folder (turn-latency.mjs, tts-latency.mjs, voice-latency.mjs): options,
// the scripted LLM child, the stack's settings, the bench socket's plumbing, CPU time from /proc, stream paging,
// the percentiles and a plain-text table. What each bench measures and prints stays in the bench.

import { fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startScriptedLlm } from '@chorus/testkit';

/** The bench's monotonic clock (ms). The apps write `ts` as performance.timeOrigin + the same clock. */
export const now = () => performance.now();

/* ------------------------------------------------------------------------------------------------------ */
/* Options: `--name=VALUE` on the command line wins over the environment variable.                        */

/** The raw text of an option, or undefined when neither argv nor the environment sets it. */
export function rawOption(name, envName) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : process.env[envName];
}

/** A non-negative integer option; `dflt` when unset or empty. Throws on anything else, so typos fail loudly. */
export function option(name, envName, dflt) {
  const raw = rawOption(name, envName);
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${envName} / --${name}: expected a non-negative integer, got "${raw}"`);
  return n;
}

/** A comma-separated subset of `allowed` as a Set; all of `allowed` when unset. */
export function listOption(name, envName, allowed) {
  const raw = rawOption(name, envName);
  if (raw === undefined || raw === '') return new Set(allowed);
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((s) => !allowed.includes(s));
  if (bad.length) throw new Error(`${envName} / --${name}: unknown ${bad.join(', ')}; use some of ${allowed.join(',')}`);
  return new Set(items);
}

/* ------------------------------------------------------------------------------------------------------ */
/* The scripted LLM runs in a child process of the bench (the bench script itself, run with              */
/* --scripted-llm), so that serving it does not compete with the client sockets for one event loop.      */

/**
 * Entry point of a bench script: in the `--scripted-llm` child, serves the scripted LLM with `respond`;
 * otherwise runs `main`, exiting with 1 if it throws. Call it last, so that the script's classes are
 * initialised before it runs.
 */
export async function runBench({ main, respond }) {
  if (process.argv.includes('--scripted-llm')) {
    await serveScriptedLlm(respond);
  } else {
    await main().catch((err) => {
      console.error(`bench failed: ${err?.message ?? err}`);
      process.exit(1);
    });
  }
}

/** Child side: serves the scripted LLM, sends its URL to the parent and exits when the parent disconnects. */
async function serveScriptedLlm(respond) {
  const llm = await startScriptedLlm();
  llm.respond(respond);
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

/** Parent side: forks `scriptUrl` (the caller's import.meta.url) with --scripted-llm; resolves with its URL, pid and stop(). */
export async function startLlmChild(scriptUrl) {
  const child = fork(fileURLToPath(scriptUrl), ['--scripted-llm'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('scripted LLM child did not start in 15 s')), 15_000);
    child.once('message', (/** @type {any} */ m) => (clearTimeout(t), resolve(m.url)));
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
/* The stack.                                                                                             */

/**
 * startStack options for a bench: one ws-edge and one llm-worker (plus `counts`), PGlite unless
 * BENCH_DATABASE=postgres, and the scripted LLM child (stopped by the bench, not by the stack).
 * LOG_LEVEL stays info because startStack waits for the info-level "ready" lines (the apps log nothing per
 * turn at info). Claim timings as in production rather than the tests' fast ones; `env` adds more.
 */
/**
 * @param {{ url: string }} llm
 * @param {{ env?: Record<string, string>, ttsWorkers?: number, sttWorkers?: number }} [options]
 * @returns {import('@chorus/testkit').StackOptions}
 */
export function stackOptions(llm, { env = {}, ...counts } = {}) {
  return {
    edges: 1,
    llmWorkers: 1,
    ...counts,
    database: process.env.BENCH_DATABASE === 'postgres' ? 'postgres' : 'pglite',
    env: { LOG_LEVEL: 'info', TURN_CLAIM_IDLE_MS: process.env.TURN_CLAIM_IDLE_MS ?? '5000', ...env },
    // The scripted LLM is the bench's child, driven by its own script: the stack only needs its URL.
    llm: /** @type {any} */ ({ url: llm.url, close: async () => {} }),
  };
}

/** After a failure: the last log lines of each app process, which usually say why. */
export function printLogTails(procs) {
  for (const p of procs) {
    const tail = p.logs.slice(-15).join('\n');
    if (tail) console.error(`--- last log lines of ${p.name} ---\n${tail}`);
  }
}

/** `node vX, N CPU(s)`: the start of each bench's header, so that runs on different machines can be told apart. */
export const hostInfo = () => `node ${process.version}, ${os.cpus().length} CPU(s)`;

/** The first `n` load averages (1, 5, 15 min), 2 decimals: load from other processes shows in the figures. */
export const loadAverage = (n = 1) => os.loadavg().slice(0, n).map((l) => l.toFixed(2)).join(' ');

/* ------------------------------------------------------------------------------------------------------ */
/* CPU time per process, from /proc (Linux only).                                                         */

/**
 * CPU time (user + system, ms) of a process from /proc (Linux); NaN elsewhere. With `children`, the CPU of
 * its children that have exited and been waited for is added (cutime + cstime): short-lived helper processes
 * such as the stt-worker's pocketsphinx decoders, counted when they end.
 */
export function cpuMs(pid, { children = false } = {}) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** Pid of the process whose command line contains `needle`; undefined if none (or no /proc). */
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

/** Pid of the stack's redis-server, found by name: it renames itself `redis-server HOST:PORT`. */
const redisServerPid = (redisUrl) => findPid(`127.0.0.1:${new URL(redisUrl).port}`);

/**
 * CPU spent by each named process between two snapshots, divided by `per` (turns, seconds of audio…). A value
 * is a pid, `{ pid, children: true }` to count the process's ended children too (see cpuMs), or undefined to
 * leave the name out.
 */
export class CpuMeter {
  constructor(pids) {
    this.pids = Object.entries(pids)
      .map(([name, v]) => [name, typeof v === 'object' && v !== null ? v : { pid: v }])
      .filter(([, v]) => v.pid !== undefined);
  }
  snapshot() {
    return this.pids.map(([, v]) => cpuMs(v.pid, v));
  }
  /** [name, ms per unit] pairs; undefined when a reading is missing (no /proc, a process gone). */
  per(before, per) {
    const after = this.snapshot();
    const parts = this.pids.map(([name], i) => [name, (after[i] - before[i]) / per]);
    return parts.every(([, v]) => Number.isFinite(v)) ? parts : undefined;
  }
}

/**
 * A CpuMeter over the stack's app processes (tts-worker and stt-worker if it has them; the stt-worker with its
 * ended decoder processes), its redis-server, the scripted LLM and the bench.
 */
export function stackCpuMeter(stack, llm) {
  const stt = stack.sttWorkers?.[0]?.proc.pid;
  return new CpuMeter({
    'ws-edge': stack.edges[0].proc.pid,
    'llm-worker': stack.workers[0].proc.pid,
    'tts-worker': stack.ttsWorkers?.[0]?.proc.pid,
    'stt-worker': stt === undefined ? undefined : { pid: stt, children: true },
    redis: redisServerPid(stack.redis.url),
    'scripted LLM': llm.pid,
    bench: process.pid,
  });
}

/** `name ms, name ms, …` for the pairs from CpuMeter.per. */
export const cpuText = (parts) => parts.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');

/* ------------------------------------------------------------------------------------------------------ */

/**
 * The plumbing of a bench client: raw `ws` without compression; receive times from now() taken first thing in
 * the handler; one turn at a time in `this.current`, which records the turn's `error`s and its `turn_finished`.
 * A subclass handles the turn's other JSON messages (`onTurnMessage(turn, msg, at)`), binary frames if it needs
 * them (`onBinary(raw, at)`), and may wait for more than `turn_finished` (`turnFinished(turn)`).
 */
export class BenchSocketBase {
  /** Opens a socket of the calling class; resolves once `session_started` has arrived. */
  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: 10_000, perMessageDeflate: false });
      const s = new this(ws);
      const t = setTimeout(() => (ws.terminate(), reject(new Error('no session_started within 10 s'))), 10_000);
      s.onSession = () => (clearTimeout(t), resolve(s));
      ws.once('error', (err) => (clearTimeout(t), reject(err)));
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.conversationId = undefined;
    this.current = undefined;
    this.closed = false;
    /** @type {((data: any) => void) | undefined} set by open() until session_started arrives */
    this.onSession = undefined;
    ws.on('message', (raw, isBinary) => {
      const at = now();
      if (isBinary) return this.onBinary(raw, at);
      this.onMessage(JSON.parse(raw.toString('utf8')), at);
    });
    ws.on('close', () => {
      this.closed = true;
      this.current?.fail(new Error('socket closed during a turn'));
    });
    ws.on('error', () => {});
  }

  /** Binary frames of the turn (`raw`, received `at`); ignored unless a subclass needs them. */
  onBinary(raw, at) {}

  /** The turn's other JSON messages; a subclass records what it measures. */
  onTurnMessage(t, msg, at) {}

  onMessage(msg, at) {
    if (msg.type === 'session_started') {
      this.conversationId = msg.data.conversation_id;
      this.onSession?.(msg.data);
      return;
    }
    const t = this.current;
    if (!t) return;
    switch (msg.type) {
      case 'error':
        t.errors.push(msg.data?.message ?? JSON.stringify(msg.data));
        break;
      case 'turn_finished':
        t.finishedAt = at;
        t.status = msg.data.status;
        this.turnFinished(t);
        break;
      default:
        this.onTurnMessage(t, msg, at);
    }
  }

  /** By default a turn is over at its `turn_finished`. */
  turnFinished(t) {
    t.done();
  }

  /**
   * Sends `text` as a `user_message` for the turn record `t`, which gets `sendAt` (now(), taken just before
   * ws.send), `sendWall` (the same on the apps' `ts` clock), `done()` and `fail(err)`. Resolves with `t` on
   * t.done(); rejects on t.fail(err), or with timeoutError() when neither came within timeoutMs.
   */
  sendTurn(t, text, timeoutMs, timeoutError) {
    if (this.closed) return Promise.reject(new Error('socket is closed'));
    return new Promise((resolve, reject) => {
      const frame = JSON.stringify({ type: 'user_message', data: { text } });
      const timer = setTimeout(() => t.fail(timeoutError()), timeoutMs);
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

/**
 * Reads the entries of stream `key` added since the last call (the position is kept in `cursors`, a Map by
 * key), 1000 at a time, calling onFields(fields) for each. The benches read between turns, so the apps are
 * not slowed by a reader while they work.
 */
export async function readNewEntries(redis, cursors, key, onFields) {
  for (;;) {
    const from = cursors.get(key);
    const entries = await redis.xrange(key, from ? `(${from}` : '-', '+', 'COUNT', 1000);
    if (entries.length === 0) return;
    cursors.set(key, entries[entries.length - 1][0]);
    for (const [, fields] of entries) onFields(fields);
    if (entries.length < 1000) return;
  }
}

/* ------------------------------------------------------------------------------------------------------ */
/* Figures.                                                                                               */

/** The p-th percentile of sorted values, nearest rank (an actual sample, no interpolation); NaN if empty. */
function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * Count, p50/p90/p99, max and min of the finite values (a missing reading, NaN, is left out).
 * @param {number[]} values
 * @returns {{ n: number, p50: number, p90: number, p99: number, max: number, min: number }}
 */
export function summary(values) {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s[s.length - 1] ?? NaN, min: s[0] ?? NaN };
}

/** A figure with `d` decimals, or `–` when there is none. */
export const fmt = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '–');

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Prints rows as a table: the first `left` columns aligned left, the others right. */
export function table(header, rows, { left = 1, indent = '  ' } = {}) {
  const all = [header, ...rows].map((r) => r.map(String));
  const w = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r) => indent + r.map((c, i) => (i < left ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  console.log(line(all[0]));
  console.log(indent + '-'.repeat(line(all[0]).length - indent.length));
  for (const r of all.slice(1)) console.log(line(r));
}
