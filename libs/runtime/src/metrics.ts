import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Everything the services measure, as one typed union. Business logic emits; observers record. */
export type MetricEvent =
  | { kind: 'socket_opened' }
  | { kind: 'socket_closed' }
  /** The edge cut a socket off: it did not answer a ping, or did not read its audio. */
  | { kind: 'socket_cut_off'; reason: 'unresponsive' | 'too_slow' }
  | { kind: 'client_message'; type: string }
  | { kind: 'client_error'; code: string }
  | { kind: 'event_fanned_out'; type: string; lagMs: number }
  /** How many conversations the edge's fan-out follows now (each: its sockets, two tailed streams). */
  | { kind: 'conversations_followed'; count: number }
  | { kind: 'turn_queued'; waitMs: number }
  | { kind: 'turn_finished'; status: 'completed' | 'cancelled' | 'failed'; durationMs: number }
  | { kind: 'llm_first_token'; latencyMs: number }
  | { kind: 'llm_error'; code: string }
  | { kind: 'stream_entry'; stream: string; outcome: string }
  | { kind: 'persist_job'; outcome: 'done' | 'failed' }
  | { kind: 'persist_queued'; outcome: 'queued' | 'failed'; messages: number }
  | { kind: 'tts_first_audio'; engine: string; latencyMs: number }
  | { kind: 'tts_sentence'; engine: string; audioMs: number; synthMs: number }
  | { kind: 'audio_paused' }
  | { kind: 'barge_in' }
  | { kind: 'stt_utterance'; engine: string; outcome: 'transcribed' | 'empty' | 'failed'; audioMs: number; finalMs: number }
  | { kind: 'vad_frames'; frames: number; inferenceMs: number };

export type MetricObserver = (event: MetricEvent) => void;

export class MetricsBus {
  private readonly observers: MetricObserver[] = [];
  subscribe(observer: MetricObserver): void {
    this.observers.push(observer);
  }
  emit(event: MetricEvent): void {
    for (const o of this.observers) o(event);
  }
}

const ms = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

/** Records metric events as Prometheus series in `registry` (served at /metrics). */
export function prometheusObserver(registry: Registry, service: string): MetricObserver {
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const c = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers: [registry] });
  const h = (name: string, help: string, labelNames: string[] = []) =>
    new Histogram({ name, help, labelNames, buckets: ms, registers: [registry] });
  const sockets = c('chorus_sockets_total', 'Sockets opened, closed and cut off by the edge', ['event']);
  const messages = c('chorus_client_messages_total', 'Client messages by type', ['type']);
  const errors = c('chorus_client_errors_total', 'Errors sent to clients', ['code']);
  const fanout = h('chorus_fanout_lag_ms', 'Event written → sent on the socket', ['type']);
  const followed = new Gauge({ name: 'chorus_conversations_followed', help: 'Conversations whose events this edge tails for its sockets', registers: [registry] });
  const queued = h('chorus_turn_queue_ms', 'Turn submitted → started by an llm-worker');
  const turns = h('chorus_turn_duration_ms', 'Turn duration', ['status']);
  const firstToken = h('chorus_llm_first_token_ms', 'LLM request → first token');
  const llmErrors = c('chorus_llm_errors_total', 'LLM failures', ['code']);
  const entries = c('chorus_stream_entries_total', 'Consumer outcomes', ['stream', 'outcome']);
  const persist = c('chorus_persist_jobs_total', 'Write-behind jobs', ['outcome']);
  const persistQueued = c('chorus_persist_queued_messages_total', 'Messages an llm-worker queued for write-behind (failed: could not queue)', ['outcome']);
  const audioPaused = c('chorus_audio_paused_total', 'Audio reading paused for a socket that fell behind');
  const ttsFirst = h('chorus_tts_first_audio_ms', 'Sentence entry written → its first audio chunk written', ['engine']);
  const ttsRtf = new Histogram({
    name: 'chorus_tts_real_time_factor',
    help: 'Synthesis time / audio duration per sentence',
    labelNames: ['engine'],
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [registry],
  });
  const bargeIns = c('chorus_barge_ins_total', "Turns interrupted by the user's speech");
  const utterances = c('chorus_stt_utterances_total', 'Utterances by outcome', ['engine', 'outcome']);
  const sttFinal = h('chorus_stt_final_ms', 'End of speech detected → final transcript', ['engine']);
  const vadMs = c('chorus_vad_inference_ms_total', 'Time spent in VAD inference');
  const vadFrames = c('chorus_vad_frames_total', 'VAD frames inferred');
  return (e) => {
    switch (e.kind) {
      case 'socket_opened': return sockets.inc({ event: 'opened' });
      case 'socket_closed': return sockets.inc({ event: 'closed' });
      case 'socket_cut_off': return sockets.inc({ event: `cut_off_${e.reason}` });
      case 'client_message': return messages.inc({ type: e.type });
      case 'client_error': return errors.inc({ code: e.code });
      case 'event_fanned_out': return fanout.observe({ type: e.type }, e.lagMs);
      case 'conversations_followed': return followed.set(e.count);
      case 'turn_queued': return queued.observe(e.waitMs);
      case 'turn_finished': return turns.observe({ status: e.status }, e.durationMs);
      case 'llm_first_token': return firstToken.observe(e.latencyMs);
      case 'llm_error': return llmErrors.inc({ code: e.code });
      case 'stream_entry': return entries.inc({ stream: e.stream.split(':')[0]!, outcome: e.outcome });
      case 'persist_job': return persist.inc({ outcome: e.outcome });
      case 'persist_queued': return persistQueued.inc({ outcome: e.outcome }, e.messages);
      case 'audio_paused': return audioPaused.inc();
      case 'tts_first_audio': return ttsFirst.observe({ engine: e.engine }, e.latencyMs);
      case 'barge_in': return bargeIns.inc();
      case 'stt_utterance':
        utterances.inc({ engine: e.engine, outcome: e.outcome });
        return sttFinal.observe({ engine: e.engine }, e.finalMs);
      case 'vad_frames':
        vadFrames.inc(e.frames);
        return vadMs.inc(e.inferenceMs);
      case 'tts_sentence': return ttsRtf.observe({ engine: e.engine }, e.synthMs / Math.max(1, e.audioMs));
    }
  };
}

export { Registry };

/**
 * A service's metrics: a bus whose events land in a Prometheus registry, served at `port` by a small
 * HTTP server (0 = not served, e.g. the edge serves the registry at its own /metrics).
 */
export function serviceMetrics(service: string, port: number): { metrics: MetricsBus; registry: Registry; close(): void } {
  const metrics = new MetricsBus();
  const registry = new Registry();
  metrics.subscribe(prometheusObserver(registry, service));
  let server: Server | undefined;
  if (port) {
    server = createServer(async (_req, res) => {
      res.setHeader('content-type', registry.contentType);
      res.end(await registry.metrics());
    }).listen(port);
  }
  return { metrics, registry, close: () => server?.close() };
}
