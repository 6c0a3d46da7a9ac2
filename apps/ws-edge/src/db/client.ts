import { Worker } from 'node:worker_threads';
import type { MetricsBus } from '@chorus/runtime';
import { StoreError, type Store } from '@chorus/store';
import { STORE_METHODS, type DbThreadData, type FromThread, type SerializedError, type StoreMethod, type ToThread } from './protocol.js';

const revive = (e: SerializedError) => (e.storeCode ? new StoreError(e.message, e.storeCode) : new Error(e.message));

/**
 * Starts the database thread (thread.ts) and returns a Store whose calls run there. Resolves once
 * migrations and seeding are done; rejects with the thread's error when the database cannot start.
 */
export async function startDatabaseThread(data: DbThreadData, metrics: MetricsBus): Promise<Store> {
  const worker = new Worker(new URL('./thread.js', import.meta.url), { workerData: data });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 0;
  let closed: (() => void) | undefined;
  let dead: Error | undefined;
  const send = (m: ToThread) => worker.postMessage(m);

  const kind = await new Promise<Store['kind']>((resolve, reject) => {
    worker.on('message', (m: FromThread) => {
      switch (m.type) {
        case 'ready': return resolve(m.kind);
        case 'failed': return reject(revive(m.error));
        case 'result': pending.get(m.id)?.resolve(m.value); pending.delete(m.id); return;
        case 'error': pending.get(m.id)?.reject(revive(m.error)); pending.delete(m.id); return;
        case 'metric': return metrics.emit(m.event);
        case 'closed': return closed?.();
        case 'undeliverable': return undeliverable(m.detail);
      }
    });
    worker.on('error', (err) => reject(err));
    // A message that cannot be rebuilt on arrival (in either direction) names no call: fail every call waiting
    // now rather than leave one hanging for ever, holding up the socket that made it.
    const undeliverable = (detail: string) => {
      const err = new StoreError(`a database request or its result could not be passed between threads (${detail})`, 'unavailable');
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
    worker.on('messageerror', (err) => undeliverable(String(err?.message ?? err)));
    worker.on('exit', (code) => {
      dead = new StoreError(`the database thread stopped (exit code ${code})`, 'unavailable');
      for (const p of pending.values()) p.reject(dead);
      pending.clear();
      reject(dead);
      closed?.();
    });
  });

  const call = (method: StoreMethod, args: unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      if (dead) return reject(dead);
      const id = nextId++;
      pending.set(id, { resolve, reject });
      send({ type: 'call', id, method, args });
    });
  const store = { kind } as Record<string, unknown>;
  for (const method of STORE_METHODS) store[method] = (...args: unknown[]) => call(method, args);
  store.init = async () => undefined; // done in the thread before 'ready'
  store.close = () =>
    new Promise<void>((resolve) => {
      if (dead) return resolve();
      closed = resolve;
      send({ type: 'close' });
    });
  return store as unknown as Store;
}
