/**
 * Offline STT with CMU pocketsphinx (Debian `pocketsphinx` + `pocketsphinx-en-us`).
 *
 * Process model: one `pocketsphinx_continuous` process per utterance, spawned as
 *   sh -c 'trap : TERM; cat | exec stdbuf -oL pocketsphinx_continuous -infile /dev/stdin -logfn /dev/null -hmm .. -lm .. -dict ..'
 * (`cat |` because pocketsphinx cannot open Node's stdin socket as a file; `stdbuf -oL` so lines are not held).
 * The PCM is written to stdin, stdin is ended, and every line printed (one per sub-utterance pocketsphinx's
 * own VAD finds) is joined. A single long-running process was not used: pocketsphinx prints nothing for
 * silence/noise and may split one utterance into several lines, so there is no reliable "this utterance is
 * done" marker on stdout. Instead the ~0.7 s model load is hidden by keeping one *pre-warmed* spare process
 * (model loaded, blocked reading stdin) for the engine's default dictionary; a call takes it and a new
 * spare starts loading in the background.
 *
 * Vocabulary: words (e.g. character names) missing from `cmudict-en-us.dict` are added to a copy of it with a
 * rough letter-to-phone pronunciation, passed with `-dict`. LIMIT: the n-gram language model (`en-us.lm.bin`)
 * cannot be extended here, and pocketsphinx only emits words that are in the LM. So names that are common
 * English words/names (alice, bob, mars, ...) are recognised; invented names (e.g. "zorblax") are in the
 * dictionary but will not appear in transcripts (the decoder substitutes LM words that sound alike).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { SttError, type SttEngine, type SttStream, type SttStreamOptions, type SttTranscribeOptions } from './engine.js';

export const DEFAULT_POCKETSPHINX_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
const INSTALL_HINT = 'pocketsphinx is not installed: apt-get install pocketsphinx pocketsphinx-en-us';

export interface PocketsphinxEngineOptions {
  /** `pocketsphinx_continuous` by default (looked up on PATH). */
  binary?: string;
  /** Holds `en-us/` (acoustic model), `en-us.lm.bin` and `cmudict-en-us.dict`. */
  modelDir?: string;
  /** Words every call should recognise (merged with the per-call `vocabulary`). */
  vocabulary?: string[];
  /**
   * Silence after which pocketsphinx's own endpointer closes a phrase and prints its final text (ms, default
   * 300; `-vad_postspeech` in 10 ms frames). Its phrases let the turn end early (VAD_EARLY_END_MS).
   */
  endpointMs?: number;
  /** Keep one spare process with the model loaded (default true). */
  prewarm?: boolean;
  /** Test hook: called with the pid of each spawned process group (the `sh` leader). */
  onSpawn?: (pid: number) => void;
}

interface ModelPaths {
  hmm: string;
  lm: string;
  dict: string;
}

function modelPaths(modelDir: string): ModelPaths {
  return { hmm: join(modelDir, 'en-us'), lm: join(modelDir, 'en-us.lm.bin'), dict: join(modelDir, 'cmudict-en-us.dict') };
}

/** Whether the binary, `stdbuf` and the en-us model files are present. */
export function hasPocketsphinx(binary = 'pocketsphinx_continuous', modelDir = DEFAULT_POCKETSPHINX_MODEL_DIR): boolean {
  const found =
    spawnSync('sh', ['-c', 'command -v "$1" >/dev/null && command -v stdbuf >/dev/null', 'sh', binary], { stdio: 'ignore' })
      .status === 0;
  if (!found) return false;
  const p = modelPaths(modelDir);
  return existsSync(p.hmm) && existsSync(p.lm) && existsSync(p.dict);
}

// ---------------------------------------------------------------------------------------------------------
// Dictionary

const baseWordsCache = new Map<string, Promise<Set<string>>>();

function baseWords(dictPath: string): Promise<Set<string>> {
  let p = baseWordsCache.get(dictPath);
  if (!p) {
    p = readFile(dictPath, 'utf8').then((text) => {
      const words = new Set<string>();
      for (const line of text.split('\n')) {
        const w = line.split(/\s/, 1)[0];
        if (w) words.add(w.replace(/\(\d+\)$/, ''));
      }
      return words;
    });
    p.catch(() => baseWordsCache.delete(dictPath));
    baseWordsCache.set(dictPath, p);
  }
  return p;
}

/** Splits vocabulary entries ("Captain Zorblax", "O'Brien") into lowercase dictionary words. */
export function normaliseVocabulary(vocabulary: readonly string[]): string[] {
  const out = new Set<string>();
  for (const entry of vocabulary) {
    for (const raw of entry.toLowerCase().split(/[\s\-_.,;:!?"()]+/)) {
      const w = raw.replace(/[^a-z']/g, '').replace(/^'+|'+$/g, '');
      if (/[a-z]/.test(w)) out.add(w);
    }
  }
  return [...out].sort();
}

// Ordered: longer graphemes first. Phones are from the en-us (CMU) set.
const G2P_RULES: Array<[string, string[]]> = [
  ['tion', ['SH', 'AH', 'N']], ['ough', ['AO']], ['igh', ['AY']], ['tch', ['CH']], ['sch', ['SH']],
  ['ch', ['CH']], ['sh', ['SH']], ['th', ['TH']], ['ph', ['F']], ['ng', ['NG']], ['ck', ['K']], ['qu', ['K', 'W']],
  ['wh', ['W']], ['gh', ['G']], ['kn', ['N']],
  ['ee', ['IY']], ['ea', ['IY']], ['oo', ['UW']], ['ai', ['EY']], ['ay', ['EY']], ['ei', ['EY']], ['ey', ['EY']],
  ['oa', ['OW']], ['ou', ['AW']], ['ow', ['OW']], ['oi', ['OY']], ['oy', ['OY']], ['au', ['AO']], ['aw', ['AO']],
  ['ie', ['IY']], ['ue', ['UW']],
  ['ar', ['AA', 'R']], ['or', ['AO', 'R']], ['er', ['ER']], ['ir', ['ER']], ['ur', ['ER']],
  ['a', ['AE']], ['b', ['B']], ['c', ['K']], ['d', ['D']], ['e', ['EH']], ['f', ['F']], ['g', ['G']], ['h', ['HH']],
  ['i', ['IH']], ['j', ['JH']], ['k', ['K']], ['l', ['L']], ['m', ['M']], ['n', ['N']], ['o', ['AA']], ['p', ['P']],
  ['q', ['K']], ['r', ['R']], ['s', ['S']], ['t', ['T']], ['u', ['AH']], ['v', ['V']], ['w', ['W']], ['x', ['K', 'S']],
  ['y', ['IY']], ['z', ['Z']],
];

/**
 * Rough letter-to-phone fallback for words not in cmudict. Limits: English spelling is only loosely
 * phonetic; no stress, no morphology, one pronunciation per word. Good enough for short invented names
 * ("zorblax" -> Z AO R B L AE K S); expect misses on loanwords and unusual spellings.
 */
export function letterToPhones(word: string): string[] {
  let w = word.toLowerCase().replace(/[^a-z]/g, '');
  if (w.length > 3 && /[^aeiou]e$/.test(w)) w = w.slice(0, -1); // silent final e
  const phones: string[] = [];
  let i = 0;
  while (i < w.length) {
    const ch = w[i]!;
    const next = w[i + 1] ?? '';
    if (i > 0 && ch === w[i - 1] && !'aeiou'.includes(ch)) {
      i++; // doubled consonant
      continue;
    }
    if (ch === 'c' && 'eiy'.includes(next) && next !== '') { phones.push('S'); i++; continue; }
    if (ch === 'g' && 'eiy'.includes(next) && next !== '') { phones.push('JH'); i++; continue; }
    if (ch === 'y' && i === 0) { phones.push('Y'); i++; continue; }
    if (ch === 'x' && i === 0) { phones.push('Z'); i++; continue; }
    const rule = G2P_RULES.find(([g]) => w.startsWith(g, i));
    if (!rule) { i++; continue; }
    phones.push(...rule[1]);
    i += rule[0].length;
  }
  return phones.filter((p, k) => k === 0 || p !== phones[k - 1]);
}

// ---------------------------------------------------------------------------------------------------------
// Processes

interface Decoder {
  child: ChildProcess;
  dict: string;
  /** Called with each finished line (sub-utterance) pocketsphinx prints. */
  onLine?: (line: string) => void;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string; spawnError?: Error }>;
}

/**
 * Stops a decoder: SIGTERM to the whole group (sh, cat, pocketsphinx). The `sh` traps TERM so it stays to
 * reap its pipeline (no zombies where PID 1 does not reap orphans), then exits; SIGKILL after 2 s if not.
 */
function killGroup(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return; // sh waits for the pipeline
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* already gone */
    }
  };
  signalGroup('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) signalGroup('SIGKILL');
  }, 2000);
  timer.unref();
  child.once('exit', () => clearTimeout(timer));
}

function setRef(d: Decoder, ref: boolean): void {
  const streams = [d.child.stdin, d.child.stdout, d.child.stderr] as Array<(Readable | Writable) & { ref?: () => void; unref?: () => void } | null>;
  if (ref) d.child.ref();
  else d.child.unref();
  for (const s of streams) (ref ? s?.ref : s?.unref)?.call(s);
}

export function createPocketsphinxEngine(options: PocketsphinxEngineOptions = {}): SttEngine {
  const binary = options.binary ?? 'pocketsphinx_continuous';
  const modelDir = options.modelDir ?? DEFAULT_POCKETSPHINX_MODEL_DIR;
  if (!hasPocketsphinx(binary, modelDir)) throw new SttError('engine_unavailable', INSTALL_HINT);
  const paths = modelPaths(modelDir);
  const engineVocabulary = options.vocabulary ?? [];
  const prewarm = options.prewarm ?? true;
  const postspeechFrames = String(Math.max(5, Math.round((options.endpointMs ?? 300) / 10)));

  let closed = false;
  let tempDir: string | undefined;
  const dictCache = new Map<string, Promise<string>>();
  const active = new Set<Decoder>();
  let spare: Decoder | undefined;

  function dictFor(vocabulary: readonly string[]): Promise<string> {
    const words = normaliseVocabulary(vocabulary);
    const key = words.join(' ');
    let p = dictCache.get(key);
    if (!p) {
      p = (async () => {
        const known = await baseWords(paths.dict);
        const extra = words
          .filter((w) => !known.has(w))
          .map((w) => [w, letterToPhones(w)] as const)
          .filter(([, ph]) => ph.length > 0);
        if (extra.length === 0) return paths.dict;
        tempDir ??= mkdtempSync(join(tmpdir(), 'stt-pocketsphinx-'));
        const file = join(tempDir, `dict-${dictCache.size}.dict`);
        const base = await readFile(paths.dict, 'utf8');
        const lines = extra.map(([w, ph]) => `${w} ${ph.join(' ')}`).join('\n');
        await writeFile(file, `${base.replace(/\n*$/, '\n')}${lines}\n`);
        return file;
      })();
      p.catch(() => dictCache.delete(key));
      dictCache.set(key, p);
    }
    return p;
  }

  function startDecoder(dict: string): Decoder {
    // pocketsphinx's own endpointer (-vad_postspeech) prints a phrase, final, after a pause of `endpointMs`:
    // a stable partial, and the sign the turn may end early. With flite's voices 300 ms gave the same words as
    // its 500 ms default (comma pauses stay inside one phrase); much shorter splits "Alice, …" after the name.
    const args = ['-infile', '/dev/stdin', '-logfn', '/dev/null', '-vad_postspeech', postspeechFrames, '-hmm', paths.hmm, '-lm', paths.lm, '-dict', dict];
    const child = spawn('sh', ['-c', 'trap : TERM; cat | exec stdbuf -oL "$@"', 'sh', binary, ...args], {
      detached: true, // own process group, so abort/close can kill cat and pocketsphinx too
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let partialLine = '';
    const decoder: Decoder = { child, dict, done: undefined as unknown as Decoder['done'] };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const lines = (partialLine + d).split('\n');
      partialLine = lines.pop()!;
      for (const line of lines) if (line.trim()) decoder.onLine?.(line.trim().toLowerCase());
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
    child.stdin!.on('error', () => {}); // EPIPE if it dies early; 'close' reports why
    const done = new Promise<Awaited<Decoder['done']>>((resolve) => {
      child.once('error', (spawnError) => resolve({ code: null, signal: null, out, err, spawnError }));
      child.once('close', (code, signal) => resolve({ code, signal, out, err }));
    });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    decoder.done = done;
    return decoder;
  }

  /** Keeps a spare for the dictionary in use (the characters' names change rarely). */
  function refillSpare(dict: string): void {
    if (!prewarm || closed) return;
    if (spare && spare.dict !== dict) {
      killGroup(spare.child);
      spare = undefined;
    }
    if (spare) return;
    const d = startDecoder(dict);
    setRef(d, false); // an idle spare must not keep the process alive
    spare = d;
    void d.done.then(() => {
      if (spare === d) spare = undefined;
    });
  }

  if (prewarm) void dictFor(engineVocabulary).then(refillSpare, () => {});

  function takeDecoder(dict: string): Decoder {
    const ready = spare && spare.dict === dict && spare.child.exitCode === null && spare.child.signalCode === null;
    const decoder = ready ? spare! : startDecoder(dict);
    if (ready) {
      spare = undefined;
      setRef(decoder, true);
    }
    active.add(decoder);
    refillSpare(dict);
    return decoder;
  }

  /**
   * Recognises one utterance while it is spoken: the decoder (a pre-warmed one when possible) reads the
   * audio as it arrives, so at the end only the last frames and the final search passes remain.
   */
  function stream(opts: SttStreamOptions = {}): SttStream {
    if (closed) throw new SttError('engine_failed', 'pocketsphinx engine is closed');
    const { signal, onPartial } = opts;
    const lines: string[] = [];
    const early: Buffer[] = [];
    let decoder: Decoder | undefined;
    let cancelled = false;
    const cancel = () => {
      cancelled = true;
      if (decoder) killGroup(decoder.child);
    };
    signal?.addEventListener('abort', cancel, { once: true });
    const ready = (async () => {
      const dict = await dictFor(opts.vocabulary?.length ? [...engineVocabulary, ...opts.vocabulary] : engineVocabulary);
      if (cancelled || closed) return undefined;
      const d = takeDecoder(dict);
      d.onLine = (line) => {
        lines.push(line);
        onPartial?.(lines.join(' '), true);
      };
      decoder = d;
      for (const b of early.splice(0)) d.child.stdin!.write(b);
      return d;
    })();
    ready.catch(() => undefined);

    async function finish(): Promise<string> {
      let d: Decoder | undefined;
      try {
        d = await ready;
        signal?.throwIfAborted();
        if (!d || cancelled || closed) throw new SttError('engine_failed', 'pocketsphinx recognition was cancelled or the engine closed');
        d.child.stdin!.end();
        const res = await d.done;
        signal?.throwIfAborted();
        if (closed) throw new SttError('engine_failed', 'pocketsphinx engine was closed during transcription');
        if (res.spawnError) throw new SttError('engine_unavailable', `${INSTALL_HINT} (${res.spawnError.message})`, { cause: res.spawnError });
        if (res.code !== 0) {
          throw new SttError(
            'engine_failed',
            `pocketsphinx_continuous exited with ${res.code ?? res.signal}${res.err.trim() ? `: ${res.err.trim()}` : ''}`,
          );
        }
        return res.out
          .split('\n')
          .map((line) => line.trim())
          .filter(Boolean)
          .join(' ')
          .toLowerCase();
      } finally {
        signal?.removeEventListener('abort', cancel);
        if (d) {
          active.delete(d);
          killGroup(d.child); // no-op normally; makes sure nothing outlives the call
        }
      }
    }

    return {
      write(pcm: Int16Array) {
        if (cancelled) return;
        const bytes = Buffer.from(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength));
        if (decoder) decoder.child.stdin!.write(bytes);
        else early.push(bytes);
      },
      finish,
      cancel() {
        // The signal is the listening session's (hours); a listener left on it would hold this decoder.
        signal?.removeEventListener('abort', cancel);
        cancel();
        void ready.then((d) => d && active.delete(d));
      },
    };
  }

  async function transcribe(pcm: Int16Array, opts: SttTranscribeOptions = {}): Promise<string> {
    opts.signal?.throwIfAborted();
    const s = stream(opts);
    s.write(pcm);
    return s.finish();
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    const all = [...active, ...(spare ? [spare] : [])];
    spare = undefined;
    for (const d of all) killGroup(d.child);
    await Promise.all(all.map((d) => d.done));
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }

  return { name: 'pocketsphinx', sampleRate: 16_000, transcribe, stream, close };
}
