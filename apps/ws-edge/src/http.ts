import { liveWorkers, type Registry } from '@chorus/runtime';
import type { Store } from '@chorus/store';
import type { Redis } from 'ioredis';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { EdgeConfig } from './config.js';
import { DEFAULT_WEB_DIR, staticFiles } from './static.js';

export interface Readiness {
  ready: boolean;
  redis: boolean;
  database: boolean;
  workers: Record<string, number>;
  missing: string[];
}

/** Ready when Redis and the database answer and every required stage has a live worker. */
export async function readiness(redis: Redis, store: Store, stages: readonly string[]): Promise<Readiness> {
  const ok = (p: Promise<unknown>) => p.then(() => true, () => false);
  const [redisOk, dbOk] = await Promise.all([ok(redis.ping()), ok(store.ping())]);
  const workers: Record<string, number> = {};
  const missing: string[] = [];
  if (!redisOk) missing.push('redis');
  if (!dbOk) missing.push('database');
  if (redisOk) {
    for (const stage of stages) {
      workers[stage] = (await liveWorkers(redis, stage)).length;
      if (!workers[stage]) missing.push(`${stage}-worker`);
    }
  }
  return { ready: missing.length === 0, redis: redisOk, database: dbOk, workers, missing };
}

export function httpHandler(deps: { redis: Redis; store: Store; config: EdgeConfig; registry: Registry }) {
  const app = staticFiles(deps.config.WEB_DIR ?? DEFAULT_WEB_DIR);
  // node:http ignores the listener's promise, so a rejection here would be unhandled and end the process.
  return (req: IncomingMessage, res: ServerResponse): void => void handle(req, res).catch(() => res.destroy());
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed');
      if (path === '/healthz') return send(res, 200, 'application/json', JSON.stringify({ ok: true }));
      if (path === '/readyz') {
        const r = await readiness(deps.redis, deps.store, deps.config.REQUIRED_STAGES);
        return send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r));
      }
      if (path === '/metrics') return send(res, 200, deps.registry.contentType, await deps.registry.metrics());
      if (await app(path, res, req.method === 'HEAD')) return;
      send(res, 404, 'text/plain', 'not found');
    } catch (err) {
      // Once the status line is out, an error status can no longer be sent: cut the response short instead.
      if (res.headersSent) res.destroy();
      else send(res, 500, 'text/plain', String(err));
    }
  }
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

/** EDGE_TOKEN check for the upgrade: `?token=` or `Authorization: Bearer`. */
export function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const url = new URL(req.url ?? '/', 'http://x');
  const header = req.headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
  const given = url.searchParams.get('token') ?? header ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
