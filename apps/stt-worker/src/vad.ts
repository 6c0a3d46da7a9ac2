/**
 * Silero VAD v5 (ONNX, via onnxruntime-node, CPU) + the VadSegmenter state machine.
 *
 * Model I/O (checked against `session.inputNames/outputNames`): inputs `input` float32 [1, 576] (512 new
 * samples at 16 kHz with the previous 64 prepended), `state` float32 [2, 1, 128] (carried between frames),
 * `sr` int64 scalar; outputs `output` (speech probability, [1, 1]) and `stateN` (next state).
 *
 * Event loop note: onnxruntime-node's `session.run` is a synchronous native call wrapped in setImmediate, so
 * each inference blocks the event loop for its duration. For Silero that is ~0.3 ms per 32 ms frame (RTF
 * ~0.01), acceptable to run in-process; a 1 s chunk blocks for ~10 ms in total, yielding between frames.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { VadSegmenter, type VadEvent, type VadSegmenterOptions } from './vad/segmenter.js';

export { VadSegmenter, DEFAULT_VAD_SEGMENTER_OPTIONS } from './vad/segmenter.js';
export type { VadEvent, VadSegmenterOptions } from './vad/segmenter.js';

export const VAD_SAMPLE_RATE = 16_000;
/** New samples per model frame (32 ms at 16 kHz). */
export const VAD_FRAME_SAMPLES = 512;
/** Samples of the previous frame prepended to each model input. */
export const VAD_CONTEXT_SAMPLES = 64;
const STATE_SIZE = 2 * 1 * 128;

/** Path of `silero_vad_v5.onnx` shipped by `@ricky0123/vad-web`. */
export function defaultSileroModelPath(): string {
  const pkg = createRequire(import.meta.url).resolve('@ricky0123/vad-web/package.json');
  return join(dirname(pkg), 'dist', 'silero_vad_v5.onnx');
}

interface LoadedModel {
  session: ort.InferenceSession;
  names: { input: string; state: string; sr: string; output: string; stateOut: string };
}

const sessions = new Map<string, Promise<LoadedModel>>();

function pick(names: readonly string[], wanted: string, fallback: number): string {
  const n = names.includes(wanted) ? wanted : names[fallback];
  if (n === undefined) throw new Error(`Silero VAD: model has no ${wanted} (${names.join(', ')})`);
  return n;
}

/** Loads (once per path, shared by all SileroVad instances — per-stream state is an input, not in the session). */
function loadModel(path: string): Promise<LoadedModel> {
  let p = sessions.get(path);
  if (!p) {
    p = ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1 }).then((session) => {
      const i = session.inputNames;
      const o = session.outputNames;
      return {
        session,
        names: {
          input: pick(i, 'input', 0),
          state: pick(i, 'state', 1),
          sr: pick(i, 'sr', 2),
          output: pick(o, 'output', 0),
          stateOut: pick(o, 'stateN', 1),
        },
      };
    });
    p.catch(() => sessions.delete(path));
    sessions.set(path, p);
  }
  return p;
}

export interface SileroVadOptions extends Partial<VadSegmenterOptions> {
  /** ONNX file; default `defaultSileroModelPath()` (v5). */
  modelPath?: string;
}

/**
 * Streaming VAD for one audio stream: 16 kHz mono PCM16 in arbitrary chunk sizes → VadEvents.
 * Calls to `process`/`flush` are serialized internally; events come back in stream order.
 */
export class SileroVad {
  readonly segmenter: VadSegmenter;
  /** Frames inferred and total time spent in `session.run` (ms), for monitoring. */
  readonly stats = { frames: 0, inferenceMs: 0 };
  private readonly state = new Float32Array(STATE_SIZE);
  private readonly input = new Float32Array(VAD_CONTEXT_SAMPLES + VAD_FRAME_SAMPLES);
  private readonly srTensor = new ort.Tensor('int64', BigInt64Array.from([BigInt(VAD_SAMPLE_RATE)]), []);
  private pending = new Int16Array(VAD_FRAME_SAMPLES);
  private pendingLen = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly model: LoadedModel,
    options: Partial<VadSegmenterOptions>,
  ) {
    this.segmenter = new VadSegmenter({ ...options, sampleRate: VAD_SAMPLE_RATE });
  }

  static async create(options: SileroVadOptions = {}): Promise<SileroVad> {
    const { modelPath, ...seg } = options;
    return new SileroVad(await loadModel(modelPath ?? defaultSileroModelPath()), seg);
  }

  /** Feed PCM (any length); resolves with the events produced by the complete frames it finished. */
  process(pcm: Int16Array): Promise<VadEvent[]> {
    const copy = pcm.slice(); // the caller may reuse its buffer before we get to it
    return this.enqueue(() => this.processNow(copy));
  }

  /** End of stream: drops a partial frame, closes an utterance in progress, resets model state. */
  flush(): Promise<VadEvent[]> {
    return this.enqueue(async () => {
      this.pendingLen = 0;
      this.state.fill(0);
      this.input.fill(0);
      return this.segmenter.flush();
    });
  }

  /** `VadSegmenter.endEarly`, in order with the frames already fed. */
  endEarly(minSilenceMs: number, speechEndMs: number): Promise<VadEvent[]> {
    return this.enqueue(async () => this.segmenter.endEarly(minSilenceMs, speechEndMs));
  }

  /** Speech probability of one 512-sample frame (advances the model state). */
  async frameProbability(frame: Int16Array): Promise<number> {
    if (frame.length !== VAD_FRAME_SAMPLES) throw new Error(`Silero VAD: frame must be ${VAD_FRAME_SAMPLES} samples`);
    const x = this.input;
    x.copyWithin(0, VAD_FRAME_SAMPLES); // last 64 samples of the previous frame become the context
    for (let i = 0; i < VAD_FRAME_SAMPLES; i++) x[VAD_CONTEXT_SAMPLES + i] = frame[i] / 32768;
    const { session, names } = this.model;
    const t0 = performance.now();
    const out = await session.run({
      [names.input]: new ort.Tensor('float32', x.slice(), [1, x.length]),
      [names.state]: new ort.Tensor('float32', this.state.slice(), [2, 1, 128]),
      [names.sr]: this.srTensor,
    });
    this.stats.inferenceMs += performance.now() - t0;
    this.stats.frames++;
    const next = out[names.stateOut];
    const prob = out[names.output];
    if (!next || !prob) throw new Error('Silero VAD: missing model output');
    this.state.set(next.data as Float32Array);
    return (prob.data as Float32Array)[0];
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async processNow(pcm: Int16Array): Promise<VadEvent[]> {
    const events: VadEvent[] = [];
    let i = 0;
    while (i < pcm.length) {
      const n = Math.min(VAD_FRAME_SAMPLES - this.pendingLen, pcm.length - i);
      this.pending.set(pcm.subarray(i, i + n), this.pendingLen);
      this.pendingLen += n;
      i += n;
      if (this.pendingLen === VAD_FRAME_SAMPLES) {
        const frame = this.pending;
        this.pending = new Int16Array(VAD_FRAME_SAMPLES); // the frame is handed to the segmenter; don't reuse it
        this.pendingLen = 0;
        const p = await this.frameProbability(frame);
        for (const e of this.segmenter.push(p, frame)) events.push(e);
      }
    }
    return events;
  }
}
