import type { MetricEvent } from '@chorus/runtime';
import type { Store, StoreErrorCode, StoreOptions } from '@chorus/store';

/** The Store methods the main thread may call in the database thread. */
export const STORE_METHODS = [
  'ping',
  'listCharacters',
  'getCharacter',
  'createCharacter',
  'updateCharacter',
  'deleteCharacter',
  'listVoices',
  'getVoice',
  'createVoice',
  'updateVoice',
  'deleteVoice',
  'listConversations',
  'getConversation',
  'createConversation',
  'updateConversation',
  'deleteConversation',
  'listMessages',
  'saveMessage',
  'saveMessages',
] as const satisfies ReadonlyArray<keyof Store>;
export type StoreMethod = (typeof STORE_METHODS)[number];

export interface DbThreadData {
  store: StoreOptions;
  redisUrl: string;
  logLevel: string;
  /** PERSIST_BATCH_MS */
  persistBatchMs: number;
}

export type ToThread = { type: 'call'; id: number; method: StoreMethod; args: unknown[] } | { type: 'close' };

export type FromThread =
  | { type: 'ready'; kind: Store['kind'] }
  | { type: 'failed'; error: SerializedError }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'metric'; event: MetricEvent }
  | { type: 'closed' }
  /** A call from the main thread could not be rebuilt here (it names no call: see client.ts). */
  | { type: 'undeliverable'; detail: string };

export interface SerializedError {
  message: string;
  storeCode?: StoreErrorCode;
}
