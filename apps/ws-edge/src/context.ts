import type { ClientData, ClientType, ErrorCode, ServerData, ServerType } from '@chorus/contracts';
import type { Logger, MetricsBus, StageWatch } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import type { Store } from '@chorus/store';
import type { EdgeConfig } from './config.js';
import type { Fanout } from './fanout.js';
import type { Previews } from './previews.js';
import type { Session } from './session.js';
import type { EdgeState } from './state.js';

/** What every handler can use: the edge's services. */
export interface EdgeServices {
  config: EdgeConfig;
  store: Store;
  state: EdgeState;
  fanout: Fanout;
  logger: Logger;
  metrics: MetricsBus;
  redis: Redis;
  /** Whether any stt-worker is alive (voice input possible). */
  listeners: StageWatch;
  /** Whether any tts-worker is alive (speech possible). */
  speakers: StageWatch;
  /** Voice previews of this edge's sockets. */
  previews: Previews;
}

/** One request: the services, the socket, and replies that echo the request's correlation id. */
export interface RequestContext extends EdgeServices {
  session: Session;
  requestType: ClientType;
  /** The request's correlation id, when the client gave one. */
  requestId?: string;
  reply<T extends ServerType>(type: T, data?: ServerData<T>): void;
  fail(code: ErrorCode, message: string): void;
}

export type Handler<T extends ClientType> = (ctx: RequestContext, data: ClientData<T>) => Promise<void> | void;
export type HandlerTable = { [T in ClientType]: Handler<T> };
