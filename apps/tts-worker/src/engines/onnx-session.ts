/**
 * Runs onnxruntime and espeak off the caller's event loop, each in its own worker thread.
 *
 * Why threads: onnxruntime-node 1.30's `session.run` (and session creation) is a synchronous native call that
 * its JS wrapper merely defers with setImmediate (dist/backend.js), so on the main thread it blocks the event
 * loop for the whole inference; the intra-op threads only parallelise inside it. espeak-ng (`phonemizer`) is
 * synchronous WASM: 10-1000 ms per call measured here. The worker bodies are plain CommonJS passed with
 * `eval: true` so the same code runs from the TypeScript sources (tests) and from dist/.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { KokoroLang } from './kokoro-vocab.js';

const nodeRequire = createRequire(import.meta.url);

type Reply = { id: number; value?: unknown; error?: string };

/** A worker thread answering `{id, ...}` requests with `{id, value}` or `{id, error}`. */
class RpcWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;
  private dead: Error | undefined;

  constructor(code: string, workerData: unknown, label: string) {
    this.worker = new Worker(code, { eval: true, workerData });
    // Only outstanding calls keep the process alive (ref/unref below), not an idle engine.
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const call = this.pending.get(reply.id);
      if (!call) return;
      this.settled(reply.id);
      if (reply.error !== undefined) call.reject(new Error(reply.error));
      else call.resolve(reply.value);
    });
    const fail = (err: Error) => {
      this.dead ??= err;
      for (const [id, call] of this.pending) {
        this.settled(id);
        call.reject(err);
      }
    };
    this.worker.on('error', (err) => fail(new Error(`${label} worker failed: ${err.message}`)));
    this.worker.on('exit', (code) => fail(new Error(`${label} worker exited (code ${code})`)));
  }

  get alive(): boolean {
    return !this.dead;
  }

  call<T>(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  async terminate(): Promise<void> {
    this.dead ??= new Error('worker closed');
    await this.worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// onnxruntime

export type TensorType = 'float32' | 'int64' | 'int32';
export interface TensorData {
  type: TensorType;
  data: Float32Array | BigInt64Array | Int32Array;
  dims: number[];
}
/** A model input or output as onnxruntime reports it; symbolic dims are strings. */
export interface ValueInfo {
  name: string;
  type?: string;
  shape: Array<number | string>;
}
export interface SessionInfo {
  /** Execution provider of the attempt that created the session (first of its list). */
  provider: string;
  /** Attempts that failed before it, e.g. CUDA on a build without the CUDA provider. */
  failures: Array<{ providers: string[]; error: string }>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

const ORT_WORKER = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session = null;
const meta = (list) => list.map((m) => ({ name: m.name, type: m.isTensor ? m.type : undefined, shape: m.isTensor ? [...m.shape] : [] }));
const message = (err) => String((err && err.message) || err);
async function handle(msg) {
  if (msg.op === 'open') {
    const failures = [];
    for (const providers of msg.attempts) {
      try {
        session = await ort.InferenceSession.create(msg.modelPath, {
          executionProviders: providers,
          intraOpNumThreads: msg.threads,
          interOpNumThreads: 1,
          graphOptimizationLevel: 'all',
        });
        return { value: { provider: providers[0], failures, inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) } };
      } catch (err) {
        failures.push({ providers, error: message(err) });
      }
    }
    throw new Error('no execution provider could load the model: ' + failures.map((f) => f.providers.join('+') + ': ' + f.error).join('; '));
  }
  if (msg.op === 'run') {
    if (!session) throw new Error('session is not open');
    const feeds = {};
    for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    const out = await session.run(feeds);
    const value = {};
    const transfer = [];
    for (const [name, t] of Object.entries(out)) {
      value[name] = { type: t.type, data: t.data, dims: [...t.dims] };
      if (!transfer.includes(t.data.buffer)) transfer.push(t.data.buffer);
    }
    return { value, transfer };
  }
  if (msg.op === 'close') {
    if (session) await session.release();
    session = null;
    return { value: null };
  }
  throw new Error('unknown op ' + msg.op);
}
parentPort.on('message', (msg) => {
  handle(msg).then(
    ({ value, transfer }) => {
      try {
        parentPort.postMessage({ id: msg.id, value }, transfer || []);
      } catch {
        parentPort.postMessage({ id: msg.id, value }); // buffer not transferable: copy
      }
    },
    (err) => parentPort.postMessage({ id: msg.id, error: message(err) }),
  );
});
`;

export interface OpenSessionOptions {
  /** Provider lists to try in order, e.g. [['cuda', 'cpu'], ['cpu']]. */
  attempts: string[][];
  threads: number;
}

/** An onnxruntime InferenceSession living in a worker thread. Runs are executed one at a time, in call order. */
export class OnnxSession {
  private constructor(
    private readonly rpc: RpcWorker,
    readonly info: SessionInfo,
  ) {}

  static async open(modelPath: string, opts: OpenSessionOptions): Promise<OnnxSession> {
    const rpc = new RpcWorker(ORT_WORKER, { ortPath: nodeRequire.resolve('onnxruntime-node') }, 'onnxruntime');
    try {
      const info = await rpc.call<SessionInfo>({ op: 'open', modelPath, attempts: opts.attempts, threads: opts.threads });
      return new OnnxSession(rpc, info);
    } catch (err) {
      await rpc.terminate();
      throw err;
    }
  }

  get alive(): boolean {
    return this.rpc.alive;
  }

  /** Input buffers are transferred to the worker (unusable here afterwards). */
  run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    const transfer = Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer);
    return this.rpc.call({ op: 'run', feeds }, [...new Set(transfer)]);
  }

  async release(): Promise<void> {
    try {
      if (this.rpc.alive) await this.rpc.call({ op: 'close' });
    } finally {
      await this.rpc.terminate();
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// espeak-ng

const ESPEAK_WORKER = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { phonemize } = require(workerData.phonemizerPath);
parentPort.on('message', (msg) => {
  phonemize(msg.text, msg.lang).then(
    (value) => parentPort.postMessage({ id: msg.id, value }),
    (err) => parentPort.postMessage({ id: msg.id, error: String((err && err.message) || err) }),
  );
});
`;

/** espeak-ng (the `phonemizer` package) in a worker thread; started on first use. */
export class EspeakWorker {
  private rpc: RpcWorker | undefined;
  private closed = false;

  readonly phonemize = (text: string, lang: KokoroLang): Promise<string[]> => {
    if (this.closed) return Promise.reject(new Error('espeak worker closed'));
    if (!this.rpc?.alive) {
      this.rpc = new RpcWorker(ESPEAK_WORKER, { phonemizerPath: nodeRequire.resolve('phonemizer') }, 'espeak');
    }
    return this.rpc.call<string[]>({ text, lang });
  };

  async close(): Promise<void> {
    this.closed = true;
    const rpc = this.rpc;
    this.rpc = undefined;
    await rpc?.terminate();
  }
}
