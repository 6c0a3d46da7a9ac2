import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPgDatabase, type PgDatabase } from './postgres.js';
import { spawnApp, type AppProcess } from './processes.js';
import { startRedis, type RedisServer } from './redis.js';
import { startScriptedLlm, type ScriptedLlm } from './scripted-llm.js';

export interface StackOptions {
  edges?: number;
  llmWorkers?: number;
  /** tts-workers (default 0: text-only tests do not need speech). */
  ttsWorkers?: number;
  /** stt-workers (default 0). */
  sttWorkers?: number;
  /** `pglite` (default, in a temp DATA_DIR) or a fresh PostgreSQL database. */
  database?: 'pglite' | 'postgres';
  /** Reuse a DATA_DIR (restart tests); default a fresh temp dir removed by stop(). */
  dataDir?: string;
  /** Reuse a Redis (default: a fresh isolated redis-server). */
  redis?: RedisServer;
  /** Reuse a scripted LLM (default: a fresh one). */
  llm?: ScriptedLlm;
  /** LLM_BASE_URL override (e.g. a refusing port). */
  llmUrl?: string;
  /** Extra environment for every app. */
  env?: Record<string, string>;
}

export interface EdgeProcess extends AppProcess {
  url: string;
  wsUrl: string;
}

export interface Stack {
  redis: RedisServer;
  llm: ScriptedLlm;
  edges: EdgeProcess[];
  workers: AppProcess[];
  ttsWorkers: AppProcess[];
  sttWorkers: AppProcess[];
  dataDir: string;
  databaseUrl?: string;
  env: Record<string, string>;
  startEdge(name?: string): Promise<EdgeProcess>;
  /** Starts one more llm-worker; `env` adds to (or overrides) the stack's environment for it alone. */
  startLlmWorker(name?: string, env?: Record<string, string>): Promise<AppProcess>;
  startTtsWorker(name?: string): Promise<AppProcess>;
  startSttWorker(name?: string): Promise<AppProcess>;
  /** Stops the apps (SIGTERM), then what the stack created itself. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

/** Fast timings for tests: crashed workers are detected within ~2 s. */
export const TEST_ENV = {
  LOG_LEVEL: 'info',
  TURN_CLAIM_IDLE_MS: '1500',
  LLM_RETRY_BASE_MS: '50',
  LLM_TIMEOUT_MS: '10000',
  LLM_API_KEY: 'test-key',
  REQUIRED_STAGES: 'llm',
  TTS_CLAIM_IDLE_MS: '1500',
  STT_CLAIM_IDLE_MS: '1500',
  AUDIO_WAIT_MS: '15000',
};

/** The real architecture as separate processes: isolated Redis, a database, edges and llm-workers. */
export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const redis = o.redis ?? (await startRedis());
  const llm = o.llm ?? (await startScriptedLlm());
  const ownDataDir = !o.dataDir;
  const dataDir = o.dataDir ?? mkdtempSync(path.join(tmpdir(), 'chorus-stack-'));
  let pg: PgDatabase | undefined;
  if (o.database === 'postgres') pg = await createPgDatabase();
  const env: Record<string, string> = {
    ...TEST_ENV,
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    LLM_BASE_URL: o.llmUrl ?? llm.url,
    PORT: '0',
    HOST: '127.0.0.1',
    ...(pg ? { DATABASE_URL: pg.url } : {}),
    ...o.env,
  };
  const edges: EdgeProcess[] = [];
  const workers: AppProcess[] = [];
  const ttsWorkers: AppProcess[] = [];
  const sttWorkers: AppProcess[] = [];
  let n = 0;
  const startWorker = async (app: 'llm-worker' | 'tts-worker' | 'stt-worker', list: AppProcess[], name: string, extra: Record<string, string> = {}) => {
    const proc = spawnApp(app, { ...env, ...extra, WORKER_ID: name }, { name });
    await proc.waitForLog(new RegExp(`"${app} ready"`), 30_000);
    list.push(proc);
    return proc;
  };
  const stack: Stack = {
    redis,
    llm,
    edges,
    workers,
    ttsWorkers,
    sttWorkers,
    dataDir,
    databaseUrl: pg?.url,
    env,
    async startEdge(name = `edge-${++n}`) {
      const proc = spawnApp('ws-edge', { ...env, WORKER_ID: name }, { name });
      const line = await proc.waitForLog(/"ws-edge ready"/, 60_000);
      const url = JSON.parse(line).url as string;
      const edge = Object.assign(proc, { url, wsUrl: `${url.replace(/^http/, 'ws')}/ws` });
      edges.push(edge);
      return edge;
    },
    startLlmWorker: (name = `llm-${++n}`, extra?: Record<string, string>) => startWorker('llm-worker', workers, name, extra),
    startTtsWorker: (name = `tts-${++n}`) => startWorker('tts-worker', ttsWorkers, name),
    startSttWorker: (name = `stt-${++n}`) => startWorker('stt-worker', sttWorkers, name),
    async stop(opts = {}) {
      await Promise.all([...edges, ...workers, ...ttsWorkers, ...sttWorkers].map((p) => p.kill('SIGTERM')));
      if (!o.llm) await llm.close();
      if (!o.redis) await redis.stop();
      await pg?.drop();
      if (ownDataDir && !opts.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    // The first edge migrates and seeds the database before the others start.
    await stack.startEdge();
    await Promise.all([
      ...Array.from({ length: (o.edges ?? 1) - 1 }, () => stack.startEdge()),
      ...Array.from({ length: o.llmWorkers ?? 1 }, () => stack.startLlmWorker()),
      ...Array.from({ length: o.ttsWorkers ?? 0 }, () => stack.startTtsWorker()),
      ...Array.from({ length: o.sttWorkers ?? 0 }, () => stack.startSttWorker()),
    ]);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}
