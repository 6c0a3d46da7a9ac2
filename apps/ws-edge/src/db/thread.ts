import { parentPort, workerData } from 'node:worker_threads';
import { connectRedis, createLogger, MetricsBus } from '@chorus/runtime';
import { createStore, StoreError } from '@chorus/store';
import { PersistWorker } from '../persist-worker.js';
import type { DbThreadData, FromThread, SerializedError, StoreMethod, ToThread } from './protocol.js';

// The database thread: the Store and the write-behind consumer run here, so PGlite's work and BullMQ's
// job bookkeeping never hold up the edge's socket loop.
const data = workerData as DbThreadData;
const port = parentPort!;
const post = (m: FromThread) => port.postMessage(m);
const serialize = (err: unknown): SerializedError => ({
  message: String((err as Error)?.message ?? err),
  storeCode: err instanceof StoreError ? err.code : undefined,
});

const logger = createLogger('ws-edge', data.logLevel).child({ thread: 'db' });
const store = createStore(data.store);
try {
  await store.init();
} catch (err) {
  post({ type: 'failed', error: serialize(err) });
  await store.close().catch(() => undefined);
  process.exit(1);
}
const metrics = new MetricsBus();
metrics.subscribe((event) => post({ type: 'metric', event }));
const redis = connectRedis(data.redisUrl, 'edge-db');
const READS_MESSAGES = new Set<StoreMethod>(['listMessages', 'getConversation', 'listConversations']);
const persist = new PersistWorker(redis, store, logger, metrics, { windowMs: data.persistBatchMs });

port.on('message', async (m: ToThread) => {
  if (m.type === 'close') {
    await persist.close(); // saves the batch it holds; the rest wait in Redis for the next start
    redis.disconnect();
    await store.close();
    post({ type: 'closed' });
    port.close();
    return;
  }
  try {
    if (READS_MESSAGES.has(m.method)) await persist.flush(); // what this edge holds is read as saved (and the conversation list counts it)
    const fn = store[m.method] as (...a: unknown[]) => Promise<unknown>;
    post({ type: 'result', id: m.id, value: await fn.apply(store, m.args) });
  } catch (err) {
    post({ type: 'error', id: m.id, error: serialize(err) });
  }
});
port.on('messageerror', (err) => {
  logger.error({ err }, 'a call from the main thread could not be read');
  post({ type: 'undeliverable', detail: String(err?.message ?? err) });
});
post({ type: 'ready', kind: store.kind });
