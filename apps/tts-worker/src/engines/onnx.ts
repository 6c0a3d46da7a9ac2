/**
 * Kokoro-style ONNX text-to-speech (Kokoro-82M v1.0 as exported by onnx-community / kokoro-onnx).
 *
 * Model signature: token ids int64 [1, T] named `input_ids` (or `tokens` in kokoro-onnx exports), padded with id 0
 * at both ends; `style` float32 [1, 256], the row of the voice's style file [510, 1, 256] picked by the token
 * count; `speed` float32 [1]; output `waveform` float32 [N] (or [1, N]) at 24 kHz.
 *
 * Batching: requests with the same voice and speed that arrive within `onnxBatchWindowMs`, or while an inference
 * is running, share one inference, but only when the model can say where each item's audio ends: symbolic batch
 * dims on the token and style inputs AND a per-item `lengths`/`waveform_lengths` output. The real Kokoro graph
 * has neither: its duration alignment is built for one item (kokoro/model.py: `pred_aln_trg.unsqueeze(0)`, the
 * waveform is `.squeeze()`d to [N]) and it outputs no lengths, so a padded batch would give unusable audio. For it
 * the engine runs requests one after another in arrival order.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { numberIn, type NumberRange } from '@chorus/contracts';
import { z } from 'zod';
import { TtsError, type EngineInfo, type SynthesisRequest, type TtsEngine, type TtsEngineKind, type TtsEngineOptions, type VoiceSpec } from './engine.js';
import { KOKORO_PAD_ID, phonemizeForKokoro, splitPhonemes, tokenize, type KokoroLang } from './kokoro-vocab.js';
import { EspeakWorker, OnnxSession, type SessionInfo, type TensorData, type ValueInfo } from './onnx-session.js';

export const ONNX_SAMPLE_RATE = 24_000;
/** Largest PCM chunk yielded: 200 ms at 24 kHz. */
export const ONNX_CHUNK_SAMPLES = 4_800;
const STYLE_DIM = 256;
const DEFAULT_PROVIDERS = ['cuda', 'cpu'];
const NO_MODEL = 'onnx TTS has no model: set ONNX_TTS_MODEL to a Kokoro .onnx file and ONNX_TTS_VOICES_DIR to its voices directory';
const NO_VOICES = 'onnx TTS has no voices: set ONNX_TTS_VOICES_DIR to the directory of <voice>.bin style files';
/** Outputs that carry each batch item's valid sample count. */
const LENGTH_OUTPUTS = ['lengths', 'waveform_lengths'];

export interface OnnxEngineOptions extends TtsEngineOptions {
  /**
   * Micro-batching window: how long a request waits for others (same voice and speed) to share its inference.
   * Default 5 ms, small next to an inference, so a lone request hardly pays for it. Unused when the model
   * cannot batch.
   */
  onnxBatchWindowMs?: number;
  /** Most requests in one inference. Default 8. */
  onnxMaxBatch?: number;
}

/** `speed` of an onnx voice: validation and the description both read it. */
const SPEED = { min: 0.5, max: 2 } as const satisfies NumberRange;

/** `voice.params` of an onnx voice. */
export const OnnxVoiceParams = z.object({
  /** Style file name without `.bin`, e.g. `af_heart`. */
  voice: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a style file name (letters, digits, _ or -)'),
  speed: numberIn(SPEED).optional(),
  /** espeak language; default from the voice's first letter: `b…` British ('en'), otherwise American ('en-us'). */
  lang: z.enum(['en-us', 'en']).optional(),
});
export type OnnxVoiceParams = z.infer<typeof OnnxVoiceParams>;

export interface OnnxEngineStats {
  /** Inferences run; a batched inference counts once. */
  inferences: number;
  /** Text pieces they synthesized. */
  items: number;
  /** Most pieces in one inference. */
  largestBatch: number;
  /** Wall time spent waiting for inferences, ms. */
  inferenceMs: number;
}

export interface OnnxEngine extends TtsEngine {
  /** Execution provider the model runs on ('cuda', 'cpu', …); loads the model. */
  provider(): Promise<string>;
  /** Whether this model lets concurrent requests share an inference; loads the model. */
  canBatch(): Promise<boolean>;
  stats(): OnnxEngineStats;
}

export function createOnnxEngine(options: OnnxEngineOptions): OnnxEngine {
  return new OnnxTtsEngine(options);
}

export const onnxEngine: TtsEngineKind = { create: createOnnxEngine, describe: describeOnnx };

/** The style files of the voices directory; unavailable while the model or the voices are missing. */
async function describeOnnx(options: TtsEngineOptions): Promise<EngineInfo> {
  const { onnxModelPath: model, onnxVoicesDir: dir } = options;
  const names = dir ? await readdir(dir).then((files) => files.filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4)).sort(), () => []) : [];
  const voices = names.filter((n) => OnnxVoiceParams.shape.voice.safeParse(n).success).map(describeVoice);
  const modelOk = model ? await stat(model).then((s) => s.isFile(), () => false) : false;
  const reason = !model
    ? NO_MODEL
    : !modelOk
      ? `onnx TTS model not found at ${model}: set ONNX_TTS_MODEL to an existing .onnx file`
      : !voices.length
        ? dir ? `onnx TTS found no <voice>.bin style files in ${dir} (ONNX_TTS_VOICES_DIR)` : NO_VOICES
        : undefined;
  return {
    available: !reason,
    ...(reason ? { reason } : {}),
    voices,
    params: [
      voices.length
        ? { key: 'voice', type: 'enum', description: 'Style file (voice) to speak with.', options: voices.map((v) => v.id), required: true }
        : { key: 'voice', type: 'string', description: 'Style file name without .bin, e.g. af_heart.', required: true },
      { key: 'speed', type: 'number', description: 'Speaking rate: above 1 is faster.', default: 1, min: SPEED.min, max: SPEED.max },
      { key: 'lang', type: 'enum', description: "espeak language; default from the voice's first letter (b…: British 'en', else 'en-us').", options: [...OnnxVoiceParams.shape.lang.unwrap().options] },
    ],
  };
}

/** What the engine needs to know about a loaded model's signature. */
interface ModelShape {
  tokenInput: string;
  waveformOutput: string;
  lengthsOutput: string | undefined;
  batch: boolean;
  speedType: 'float32' | 'int32';
  /** Shape of `speed`: scalar, [1] or one per item. */
  speedDims: 'scalar' | 'one' | 'per-item';
}

interface Loaded {
  session: OnnxSession;
  shape: ModelShape;
  batcher: Batcher;
}

class OnnxTtsEngine implements OnnxEngine {
  readonly name = 'onnx';
  private loaded: Promise<Loaded> | undefined;
  private readonly styleFiles = new Map<string, Promise<Float32Array>>();
  private readonly espeak = new EspeakWorker();
  private readonly counters: OnnxEngineStats = { inferences: 0, items: 0, largestBatch: 0, inferenceMs: 0 };
  private closed = false;

  constructor(private readonly options: OnnxEngineOptions) {}

  sampleRate(): number {
    return ONNX_SAMPLE_RATE;
  }

  validate(voice: VoiceSpec): void {
    const params = parseParams(voice);
    const dir = this.options.onnxVoicesDir;
    if (dir && !existsSync(join(dir, `${params.voice}.bin`))) {
      throw new TtsError('voice_invalid', `Voice "${voice.name}": style "${params.voice}" not found (${params.voice}.bin in ${dir})`);
    }
  }

  async provider(): Promise<string> {
    return (await this.load()).session.info.provider;
  }

  async canBatch(): Promise<boolean> {
    return (await this.load()).shape.batch;
  }

  stats(): OnnxEngineStats {
    return { ...this.counters };
  }

  async *synthesize(request: SynthesisRequest): AsyncGenerator<Int16Array> {
    const params = parseParams(request.voice);
    const speed = params.speed ?? 1;
    const lang: KokoroLang = params.lang ?? (params.voice.startsWith('b') ? 'en' : 'en-us');
    // Aborted by the caller's signal, or by us when the consumer stops iterating: drops queued pieces.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    request.signal?.addEventListener('abort', onAbort, { once: true });
    if (request.signal?.aborted) stop.abort();
    try {
      const loaded = await unlessAborted(this.load(), stop.signal);
      if (loaded === ABORTED) return;
      const styles = await unlessAborted(this.styles(params.voice, request.voice), stop.signal);
      if (styles === ABORTED) return;
      const phonemes = await unlessAborted(
        phonemizeForKokoro(request.text, lang, this.espeak.phonemize).catch((err: unknown) => {
          throw new TtsError('engine_failed', `Voice "${request.voice.name}": phonemizer failed: ${errorText(err)}`);
        }),
        stop.signal,
      );
      if (phonemes === ABORTED) return;

      const rows = styles.length / STYLE_DIM;
      const key = `${params.voice}|${speed}`;
      const waves = splitPhonemes(phonemes)
        .map(tokenize)
        .filter((ids) => ids.length > 0)
        .map((ids) => {
          // The style row is chosen by the piece's token count, as Kokoro was trained.
          const row = Math.min(ids.length, rows - 1);
          const style = styles.subarray(row * STYLE_DIM, (row + 1) * STYLE_DIM);
          return loaded.batcher.infer(key, [KOKORO_PAD_ID, ...ids, KOKORO_PAD_ID], style, speed, stop.signal);
        });
      // All pieces are queued at once (a batching model may take them together); they are awaited in order, so
      // a failure of a later one must not go unhandled if we stop early.
      for (const w of waves) w.catch(() => undefined);

      for (const pending of waves) {
        let wave: Float32Array;
        try {
          wave = await pending;
        } catch (err) {
          if (stop.signal.aborted) return;
          throw err instanceof TtsError
            ? err
            : new TtsError('engine_failed', `Voice "${request.voice.name}": onnx inference failed: ${errorText(err)}`);
        }
        for (let at = 0; at < wave.length; at += ONNX_CHUNK_SAMPLES) {
          if (stop.signal.aborted) return;
          yield floatToPcm16(wave.subarray(at, at + ONNX_CHUNK_SAMPLES));
        }
      }
    } finally {
      request.signal?.removeEventListener('abort', onAbort);
      stop.abort();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const loaded = this.loaded;
    this.loaded = undefined;
    await Promise.allSettled([
      loaded?.then((l) => {
        l.batcher.close();
        return l.session.release();
      }),
      this.espeak.close(),
    ]);
  }

  /** The model, loaded on first use; a failed load is retried by the next call. */
  private load(): Promise<Loaded> {
    if (this.closed) return Promise.reject(new TtsError('engine_unavailable', 'onnx TTS engine is closed'));
    this.loaded ??= this.open().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  private async open(): Promise<Loaded> {
    const path = this.options.onnxModelPath;
    if (!path) {
      throw new TtsError('engine_unavailable', NO_MODEL);
    }
    if (!(await stat(path).then((s) => s.isFile(), () => false))) {
      throw new TtsError('engine_unavailable', `onnx TTS model not found at ${path}: set ONNX_TTS_MODEL to an existing .onnx file`);
    }
    // espeak's first call costs hundreds of ms; start it while the model loads.
    void this.espeak.phonemize('a', 'en-us').catch(() => undefined);

    let session: OnnxSession;
    try {
      session = await OnnxSession.open(path, {
        attempts: providerAttempts(this.options.onnxProviders),
        threads: Math.max(1, this.options.threads || 1),
      });
    } catch (err) {
      throw new TtsError('engine_unavailable', `onnx TTS could not load ${path} (ONNX_TTS_MODEL): ${errorText(err)}`);
    }
    const { info } = session;
    for (const f of info.failures) {
      this.options.log?.('onnx execution provider unavailable', { providers: f.providers, error: f.error });
    }
    this.options.log?.('onnx execution provider', { provider: info.provider });

    let shape: ModelShape;
    try {
      shape = describeModel(info, this.options.onnxMaxBatch ?? 8);
    } catch (err) {
      await session.release();
      throw new TtsError('engine_unavailable', `onnx TTS model ${path} is not Kokoro-compatible: ${errorText(err)}`);
    }
    this.options.log?.('onnx model loaded', {
      inputs: info.inputs.map((i) => `${i.name}[${i.shape.join(',')}]`),
      batching: shape.batch,
    });
    const batcher = new Batcher(session, shape, {
      windowMs: this.options.onnxBatchWindowMs ?? 5,
      maxBatch: shape.batch ? Math.max(1, this.options.onnxMaxBatch ?? 8) : 1,
      counters: this.counters,
      // A crashed worker took the session with it: load again on the next request.
      onSessionLost: () => {
        this.loaded = undefined;
      },
    });
    return { session, shape, batcher };
  }

  /** The voice's style file as float32 rows of 256, cached. */
  private styles(name: string, voice: VoiceSpec): Promise<Float32Array> {
    const dir = this.options.onnxVoicesDir;
    if (!dir) {
      return Promise.reject(new TtsError('engine_unavailable', NO_VOICES));
    }
    let styles = this.styleFiles.get(name);
    if (!styles) {
      styles = readStyleFile(join(dir, `${name}.bin`), voice, name);
      this.styleFiles.set(name, styles);
      styles.catch(() => this.styleFiles.delete(name));
    }
    return styles;
  }
}

async function readStyleFile(file: string, voice: VoiceSpec, name: string): Promise<Float32Array> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new TtsError('voice_invalid', `Voice "${voice.name}": style "${name}" cannot be read (${file}): ${errorText(err)}`);
  }
  if (buf.byteLength === 0 || buf.byteLength % (STYLE_DIM * 4) !== 0) {
    throw new TtsError('voice_invalid', `Voice "${voice.name}": ${file} is not a style file (float32 [N, 1, 256])`);
  }
  // Copy: a Buffer's byteOffset need not be 4-aligned.
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function parseParams(voice: VoiceSpec): OnnxVoiceParams {
  const parsed = OnnxVoiceParams.safeParse(voice.params);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ');
    throw new TtsError('voice_invalid', `Voice "${voice.name}": invalid onnx params (${why})`);
  }
  return parsed.data;
}

/** ['cuda', 'cpu'] → [['cuda', 'cpu'], ['cpu']]: drop the failing first provider each time, CPU last. */
export function providerAttempts(wanted: readonly string[] | undefined): string[][] {
  const list = (wanted?.length ? wanted : DEFAULT_PROVIDERS).map((p) => p.trim().toLowerCase()).filter(Boolean);
  const attempts = list.map((_, i) => list.slice(i));
  const last = attempts.at(-1);
  if (!last || last.length !== 1 || last[0] !== 'cpu') attempts.push(['cpu']);
  return attempts;
}

function describeModel(info: SessionInfo, maxBatch: number): ModelShape {
  const input = (name: string) => info.inputs.find((i) => i.name === name);
  const names = info.inputs.map((i) => i.name).join(', ');
  const tokens = input('input_ids') ?? input('tokens');
  const style = input('style');
  const speed = input('speed');
  if (!tokens || !style || !speed) throw new Error(`expected inputs input_ids|tokens, style, speed; got ${names}`);
  const waveform = info.outputs.find((o) => o.name === 'waveform') ?? info.outputs.find((o) => o.type === 'float32');
  if (!waveform) throw new Error('no float32 waveform output');
  const lengths = info.outputs.find((o) => LENGTH_OUTPUTS.includes(o.name));
  const symbolicBatch = (v: ValueInfo) => typeof v.shape[0] === 'string';
  return {
    tokenInput: tokens.name,
    waveformOutput: waveform.name,
    lengthsOutput: lengths?.name,
    batch: maxBatch > 1 && symbolicBatch(tokens) && symbolicBatch(style) && lengths !== undefined,
    speedType: speed.type === 'int32' ? 'int32' : 'float32',
    speedDims: speed.shape.length === 0 ? 'scalar' : symbolicBatch(speed) ? 'per-item' : 'one',
  };
}

interface Job {
  key: string;
  ids: number[];
  style: Float32Array;
  speed: number;
  settle(wave: Float32Array | undefined, err?: unknown): void;
}

interface BatcherOptions {
  windowMs: number;
  maxBatch: number;
  counters: OnnxEngineStats;
  onSessionLost(): void;
}

/**
 * Queues inferences and runs one at a time. Jobs with the same key that are queued together (within the window,
 * or while the previous inference ran) go into one inference, up to maxBatch; maxBatch 1 means strictly one by
 * one in arrival order.
 */
class Batcher {
  private queue: Job[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;

  constructor(
    private readonly session: OnnxSession,
    private readonly shape: ModelShape,
    private readonly opts: BatcherOptions,
  ) {}

  infer(key: string, ids: number[], style: Float32Array, speed: number, signal: AbortSignal): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      if (signal.aborted) return reject(abortError());
      if (this.closed) return reject(new TtsError('engine_unavailable', 'onnx TTS engine is closed'));
      let done = false;
      const job: Job = {
        key,
        ids,
        style,
        speed,
        settle: (wave, err) => {
          if (done) return;
          done = true;
          signal.removeEventListener('abort', onAbort);
          if (wave) resolve(wave);
          else reject(err);
        },
      };
      const onAbort = () => {
        // Queued: never runs. Running: its result is dropped.
        this.queue = this.queue.filter((j) => j !== job);
        job.settle(undefined, abortError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.schedule();
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const job of this.queue) job.settle(undefined, new TtsError('engine_unavailable', 'onnx TTS engine is closed'));
    this.queue = [];
  }

  private schedule(): void {
    if (this.running || this.closed) return;
    const first = this.queue[0];
    if (!first) return;
    const full = this.queue.filter((j) => j.key === first.key).length >= this.opts.maxBatch;
    if (this.opts.maxBatch <= 1 || full) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.pump();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.opts.windowMs);
    }
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const first = this.queue[0];
    if (!first) return;
    const group = this.queue.filter((j) => j.key === first.key).slice(0, this.opts.maxBatch);
    this.queue = this.queue.filter((j) => !group.includes(j));
    this.running = true;
    void this.run(group).finally(() => {
      this.running = false;
      // What queued up meanwhile has waited long enough: run it now.
      this.pump();
    });
  }

  private async run(group: Job[]): Promise<void> {
    const { shape } = this;
    const n = group.length;
    const width = Math.max(...group.map((j) => j.ids.length));
    const ids = new BigInt64Array(n * width); // zero = Kokoro's pad id
    const style = new Float32Array(n * STYLE_DIM);
    group.forEach((job, b) => {
      job.ids.forEach((id, t) => (ids[b * width + t] = BigInt(id)));
      style.set(job.style, b * STYLE_DIM);
    });
    const speeds = shape.speedDims === 'per-item' ? group.map((j) => j.speed) : [group[0].speed];
    const feeds: Record<string, TensorData> = {
      [shape.tokenInput]: { type: 'int64', data: ids, dims: [n, width] },
      style: { type: 'float32', data: style, dims: [n, STYLE_DIM] },
      speed:
        shape.speedType === 'int32'
          ? { type: 'int32', data: Int32Array.from(speeds, Math.round), dims: shape.speedDims === 'scalar' ? [] : [speeds.length] }
          : { type: 'float32', data: Float32Array.from(speeds), dims: shape.speedDims === 'scalar' ? [] : [speeds.length] },
    };

    this.opts.counters.inferences += 1;
    this.opts.counters.items += n;
    this.opts.counters.largestBatch = Math.max(this.opts.counters.largestBatch, n);
    let out: Record<string, TensorData>;
    const started = performance.now();
    try {
      out = await this.session.run(feeds);
    } catch (err) {
      if (!this.session.alive) this.opts.onSessionLost();
      for (const job of group) job.settle(undefined, err);
      return;
    } finally {
      this.opts.counters.inferenceMs += performance.now() - started;
    }

    try {
      const wave = out[shape.waveformOutput];
      if (!wave || !(wave.data instanceof Float32Array)) throw new Error(`output ${shape.waveformOutput} is not float32`);
      const lengths = shape.lengthsOutput ? out[shape.lengthsOutput]?.data : undefined;
      const lengthOf = (b: number, max: number) => (lengths ? Math.min(max, Math.max(0, Number(lengths[b]))) : max);
      if (n === 1) {
        group[0].settle(wave.data.subarray(0, lengthOf(0, wave.data.length)));
        return;
      }
      // Batched: waveform [n, S], each row valid up to its length.
      const rowLen = wave.dims.at(-1) ?? 0;
      if (wave.dims[0] !== n || wave.data.length !== n * rowLen) {
        throw new Error(`waveform dims [${wave.dims.join(', ')}] do not match a batch of ${n}`);
      }
      group.forEach((job, b) => job.settle(wave.data.subarray(b * rowLen, b * rowLen + lengthOf(b, rowLen)) as Float32Array));
    } catch (err) {
      for (const job of group) job.settle(undefined, err);
    }
  }
}

/** float samples → PCM16 with clipping (NaN → 0). */
export function floatToPcm16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    out[i] = s >= 1 ? 32767 : s <= -1 ? -32768 : Math.round(s < 0 ? s * 32768 : s * 32767);
  }
  return out;
}

const ABORTED = Symbol('aborted');

/** `p`, or ABORTED as soon as the signal fires (p keeps running; its failure is then ignored). */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.resolve(ABORTED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      p.catch(() => undefined);
      resolve(ABORTED);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function abortError(): Error {
  return new DOMException('synthesis aborted', 'AbortError');
}

/** Kokoro names voices `<lang><gender>_<name>`: `af_heart` is an American female voice. */
function describeVoice(id: string): { id: string; name: string; language?: string } {
  const m = /^([ab])([fm])_(.+)$/.exec(id);
  if (!m) return { id, name: id };
  const [, lang, gender, name] = m;
  const who = `${lang === 'b' ? 'British' : 'American'} ${gender === 'f' ? 'female' : 'male'}`;
  return { id, name: `${name![0]!.toUpperCase()}${name!.slice(1)} (${who})`, language: lang === 'b' ? 'en-GB' : 'en-US' };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
