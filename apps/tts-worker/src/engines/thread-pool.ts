import { Worker } from 'node:worker_threads';

/**
 * Runs once per thread with the pool's `data` and returns the per-task handler. It is shipped to the
 * thread as source text (`init.toString()`), so it must be self-contained: no imports, no module-scope
 * names, only globals (and `require` of node builtins). That is what lets one file work both from tsc's
 * dist/ and under vitest (which runs the .ts sources): the thread never loads a file of ours, and its
 * source is whatever JavaScript the module loader produced from the TypeScript. (Code-instrumenting
 * coverage, e.g. istanbul, would break this; V8 coverage does not.)
 */
export type ThreadInit<D, Req, Res> = (data: D) => (request: Req) => Res | Promise<Res>;

type Reply<Res> = { ok: true; value: Res } | { ok: false; error: string };

interface Task<Req, Res> {
  request: Req;
  resolve(value: Res): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

const threadMain = (init: string) => `
const { parentPort, workerData } = require('node:worker_threads');
const handle = (${init})(workerData);
parentPort.on('message', async (request) => {
  try {
    const value = await handle(request);
    // Typed-array results move to the caller without a copy.
    parentPort.postMessage({ ok: true, value }, ArrayBuffer.isView(value) ? [value.buffer] : []);
  } catch (err) {
    parentPort.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});`;

/** A fixed-size pool of worker threads running one task each at a time, in FIFO order. */
export class ThreadPool<D, Req, Res> {
  private readonly source: string;
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Task<Req, Res> | undefined>();
  private readonly queue: Task<Req, Res>[] = [];
  private count = 0;
  private closed = false;

  constructor(
    private readonly size: number,
    init: ThreadInit<D, Req, Res>,
    private readonly data: D,
  ) {
    this.source = threadMain(init.toString());
    for (let i = 0; i < size; i++) this.idle.push(this.spawn());
  }

  /**
   * Runs `request` on a free thread. An abort rejects at once with the signal's reason; a queued task is
   * dropped, a running one finishes in its thread and its result is discarded.
   */
  run(request: Req, signal?: AbortSignal): Promise<Res> {
    if (this.closed) return Promise.reject(new Error('thread pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Res>((resolve, reject) => {
      const task: Task<Req, Res> = { request, resolve, reject, signal };
      if (signal) {
        task.onAbort = () => {
          const i = this.queue.indexOf(task);
          if (i >= 0) this.queue.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      this.queue.push(task);
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) this.settle(task, new Error('thread pool is closed'));
    const workers = [...this.idle.splice(0), ...this.busy.keys()];
    for (const [, task] of this.busy) if (task) this.settle(task, new Error('thread pool is closed'));
    this.busy.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private spawn(): Worker {
    const worker = new Worker(this.source, { eval: true, workerData: this.data });
    this.count++;
    worker.unref(); // idle threads must not keep the process alive
    worker.on('message', (reply: Reply<Res>) => {
      const task = this.busy.get(worker);
      this.busy.delete(worker);
      this.idle.push(worker);
      worker.unref();
      if (task) this.settle(task, reply.ok ? undefined : new Error(reply.error), reply.ok ? reply.value : undefined);
      this.dispatch();
    });
    const retire = (err: Error) => {
      const task = this.busy.get(worker);
      if (task) this.settle(task, err);
      this.busy.set(worker, undefined); // parked until 'exit'; never handed another task
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
    };
    worker.on('error', retire);
    worker.on('exit', (code) => {
      retire(new Error(`thread exited with code ${code}`));
      this.busy.delete(worker);
      this.count--;
      this.dispatch(); // a replacement is spawned only when a task needs it, so a broken init cannot loop
    });
    return worker;
  }

  private dispatch(): void {
    while (!this.closed && this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.count < this.size ? this.spawn() : undefined);
      if (!worker) return;
      const task = this.queue.shift()!;
      this.busy.set(worker, task);
      worker.ref(); // a running task keeps the process alive until it answers
      worker.postMessage(task.request);
    }
  }

  private settle(task: Task<Req, Res>, err: unknown, value?: Res): void {
    if (task.onAbort) task.signal?.removeEventListener('abort', task.onAbort);
    if (err === undefined) task.resolve(value as Res);
    else task.reject(err);
  }
}
