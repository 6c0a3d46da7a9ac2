import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { sleep } from './wait.js';

export interface RedisServer {
  /** `redis://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Shuts the server down and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Extra `redis-server` arguments, appended after the defaults (e.g. `['--maxmemory', '10mb']`). */
  args?: string[];
  /** How long to wait for PING to answer. Default 10000. */
  timeoutMs?: number;
}

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? (existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server');

/** Every server started here and not yet stopped: killed synchronously if the test process exits. */
const live = new Set<{ proc: ChildProcess; dir: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      try {
        s.proc.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      try {
        rmSync(s.dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

/** Sends one inline PING over a fresh TCP connection; true when `+PONG` comes back. */
function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.once('error', () => done(false));
    sock.once('close', () => done(false));
  });
}

async function startOnce(port: number, opts: StartRedisOptions): Promise<RedisServer | { retry: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'chorus-redis-'));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--protected-mode', 'no',
    ...(opts.args ?? []),
  ];
  const proc = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const entry = { proc, dir };
  live.add(entry);
  installExitHook();

  const output: string[] = [];
  const collect = (d: Buffer) => {
    output.push(d.toString('utf8'));
    if (output.length > 200) output.shift();
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);

  let exitCode: number | null | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', (code) => {
      exitCode = code;
      resolve();
    });
    proc.once('error', (err) => {
      spawnError = err;
      exitCode = null;
      resolve();
    });
  });
  // Pipes are fully closed once 'close' fires; nothing waits on them after exit.

  const cleanupDir = () => rmSync(dir, { recursive: true, force: true });
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    if (exitCode !== undefined) {
      live.delete(entry);
      cleanupDir();
      const log = output.join('');
      if (spawnError) throw new Error(`startRedis: cannot run ${REDIS_BIN}: ${spawnError.message}`);
      if (/Address already in use/i.test(log)) return { retry: log };
      throw new Error(`startRedis: redis-server exited with code ${exitCode}:\n${log}`);
    }
    if (await ping(port)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      await exited;
      live.delete(entry);
      cleanupDir();
      throw new Error(`startRedis: no PONG on port ${port} after ${opts.timeoutMs ?? 10_000} ms:\n${output.join('')}`);
    }
    await sleep(20);
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (exitCode === undefined) {
        proc.kill('SIGTERM');
        const killTimer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killTimer);
      }
      live.delete(entry);
      cleanupDir();
    })();
    return stopping;
  };
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}

/**
 * Starts an isolated, non-persistent `redis-server` on a free 127.0.0.1 port with its own temp dir and
 * resolves once it answers PING.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  let lastLog = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const res = await startOnce(await freePort(), opts);
    if ('retry' in res) {
      lastLog = res.retry;
      continue;
    }
    return res;
  }
  throw new Error(`startRedis: could not bind a port after 5 attempts:\n${lastLog}`);
}
