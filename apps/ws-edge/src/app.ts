import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULT_INPUT_SAMPLE_RATE, GROUPS, MAX_FRAME_BYTES, MAX_READ_FRAME_BYTES, STREAMS } from '@chorus/contracts';
import {
  connectRedis,
  createLogger,
  defaultWorkerId,
  ensureGroup,
  serviceMetrics,
  StageWatch,
  type Logger,
} from '@chorus/runtime';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EdgeConfig } from './config.js';
import type { EdgeServices } from './context.js';
import { followDeletion, initialConversation, showConversation } from './conversations.js';
import { resumeHint } from './audio-resume.js';
import { Fanout } from './fanout.js';
import { handlers } from './handlers/index.js';
import { Heartbeat } from './heartbeat.js';
import { bargeIn, stopMic } from './handlers/voice.js';
import { authorized, httpHandler } from './http.js';
import { startDatabaseThread } from './db/client.js';
import { Previews } from './previews.js';
import { Router } from './router.js';
import { Session } from './session.js';
import { EdgeState } from './state.js';

export interface Edge {
  id: string;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** What a socket may send before its session_started: frames, and bytes of frames it will handle. */
const EARLY_FRAMES_MAX = 4096;
const EARLY_BYTES_MAX = 4 * 1024 * 1024;

/** Wires the edge: HTTP + WebSocket server, the database it owns (in its own thread), fan-out. */
export async function startEdge(config: EdgeConfig, logger: Logger = createLogger('ws-edge')): Promise<Edge> {
  const id = config.WORKER_ID ?? defaultWorkerId('edge');
  const { metrics, registry } = serviceMetrics('ws-edge', 0); // served by the edge's own /metrics
  const store = await startDatabaseThread(
    {
      store: {
        databaseUrl: config.DATABASE_URL,
        dataDir: config.DATA_DIR,
        supabaseUrl: config.SUPABASE_URL,
        supabaseServiceRoleKey: config.SUPABASE_SERVICE_ROLE_KEY,
      },
      redisUrl: config.REDIS_URL,
      logLevel: logger.level,
      persistBatchMs: config.PERSIST_BATCH_MS,
    },
    metrics,
  );
  const redis = connectRedis(config.REDIS_URL, id);
  // The group exists before any turn is written, so turns sent before a worker starts are not lost.
  await ensureGroup(redis, STREAMS.transcribe, GROUPS.llm);
  await ensureGroup(redis, STREAMS.speak, GROUPS.tts);
  await ensureGroup(redis, STREAMS.listen, GROUPS.stt);
  await ensureGroup(redis, STREAMS.preview, GROUPS.tts);
  const state = new EdgeState(redis, store, { historyMax: config.HISTORY_MAX, transcribeMaxLen: 10_000 });
  await state.publishCatalog();
  const speakers = new StageWatch(redis, 'tts');
  const audio = {
    waitMs: config.AUDIO_WAIT_MS,
    highWaterBytes: config.AUDIO_HIGH_WATER_BYTES,
    speakers: () => speakers.isAlive(),
    onPause: () => metrics.emit({ kind: 'audio_paused' }),
    onTooSlow: () => metrics.emit({ kind: 'socket_cut_off', reason: 'too_slow' }),
  };
  const fanout = new Fanout(redis, logger, metrics, audio, {
    // Not queued behind the socket's requests: a slow one would delay the cut (and its interrupt_ack) past the
    // start of the user's new turn, whose audio the page would then take for the cut turn's.
    onSpeech: (session) => void bargeIn(svc, session).catch((err) => logger.warn({ err, session: session.id }, 'barge-in failed')),
    onDeleted: (session, conversationId) => followDeletion(svc, session, conversationId),
  });
  const previews = new Previews(redis, logger, audio);
  const svc: EdgeServices = { config, store, state, fanout, logger, metrics, redis, listeners: new StageWatch(redis, 'stt'), speakers, previews };
  const router = new Router(svc, handlers);

  const http: Server = createServer(httpHandler({ redis, store, config, registry }));
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_READ_FRAME_BYTES });
  const heartbeat = new Heartbeat(wss, config.WS_PING_INTERVAL_MS, () => metrics.emit({ kind: 'socket_cut_off', reason: 'unresponsive' }));
  http.on('upgrade', (req, socket: Duplex, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ws') return refuse(socket, 404, 'Not Found');
    if (!authorized(req, config.EDGE_TOKEN)) return refuse(socket, 401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, socket, new URL(req.url!, 'http://x').searchParams));
  });

  function onSocket(ws: WebSocket, socket: Duplex, query: URLSearchParams): void {
    const session = new Session(randomUUID(), ws, config.MAX_SOCKET_BUFFER_BYTES, socket);
    metrics.emit({ kind: 'socket_opened' });
    heartbeat.track(ws);
    // Frames that arrive while the session starts are handled after session_started. A frame too large to handle
    // is kept as its size only; a client that sends more than a little before then is cut off.
    const early: Array<[Buffer | number, boolean]> = [];
    let earlyBytes = 0;
    let started = false;
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      if (started) return router.onFrame(session, raw, isBinary);
      const tooLarge = raw.length > MAX_FRAME_BYTES;
      earlyBytes += tooLarge ? 0 : raw.length;
      if (early.length >= EARLY_FRAMES_MAX || earlyBytes > EARLY_BYTES_MAX) return ws.close(1008, 'too much sent before session_started');
      early.push([tooLarge ? raw.length : raw, isBinary]);
    });
    ws.on('close', () => {
      metrics.emit({ kind: 'socket_closed' });
      stopMic(session);
      previews.leave(session);
      if (session.conversationId) fanout.leave(session, session.conversationId);
    });
    ws.on('error', (err) => logger.warn({ err, session: session.id }, 'socket error'));
    // In the socket's queue, as its requests are: what the start queues for the socket comes after session_started.
    session.enqueue(async () => {
      try {
        const resume = resumeHint(query);
        const conversation = await initialConversation(svc, query.get('conversation_id'));
        const characters = await store.listCharacters();
        const announce = () => {
          session.send('session_started', { session_id: session.id, conversation_id: conversation.id, characters, input_sample_rate: DEFAULT_INPUT_SAMPLE_RATE });
          if (resume.error) session.send('error', { code: 'invalid_message', message: resume.error });
        };
        // The hint is about the conversation asked for: a new one has no speech to resume.
        await showConversation(svc, session, conversation, announce, conversation.id === query.get('conversation_id') ? resume.hint : undefined);
        started = true;
        for (const [raw, isBinary] of early.splice(0)) {
          if (typeof raw === 'number') router.tooLarge(session, raw);
          else router.onFrame(session, raw, isBinary);
        }
      } catch (err) {
        logger.error({ err }, 'could not start a session');
        session.send('error', { code: 'internal', message: `Could not start the session: ${String((err as Error)?.message ?? err)}` });
        ws.close(1011, 'session start failed');
      }
    });
  }

  await new Promise<void>((resolve) => http.listen(config.PORT, config.HOST, resolve));
  const port = (http.address() as { port: number }).port;
  const url = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${port}`;
  logger.info({ id, url, store: store.kind }, 'ws-edge ready');
  return {
    id,
    port,
    url,
    async stop() {
      heartbeat.stop();
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      for (const ws of wss.clients) ws.close(1001, 'server shutting down');
      // A client that never answers the close handshake (suspended laptop, frozen tab) would hold its socket,
      // and so http.close(), for ws's 30 s close timeout: past the 15 s forced exit, so the persistence batch in
      // hand and the database would never be closed. After a short grace the remaining connections are cut.
      const grace = () => delay(1500, undefined, { ref: false });
      await Promise.race([closed, grace()]);
      for (const ws of wss.clients) ws.terminate();
      http.closeAllConnections();
      // A socket no longer tracked by either (e.g. mid-upgrade) must not hold the rest of the shutdown either.
      await Promise.race([closed, grace()]);
      await Promise.all([fanout.stop(), previews.stop()]);
      redis.disconnect();
      await store.close(); // the database thread also finishes the persistence jobs it holds
    },
  };
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
