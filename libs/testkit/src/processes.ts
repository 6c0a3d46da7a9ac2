import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type AppName = 'ws-edge' | 'llm-worker' | 'stt-worker' | 'tts-worker';

export interface AppProcess {
  name: string;
  proc: ChildProcess;
  /** stdout + stderr lines, the last 2000. */
  logs: string[];
  /** Resolves with the first line (already logged or to come) matching `re`; rejects after timeoutMs (default 15000) or when the process exits first. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (default SIGTERM; SIGKILL after 10 s if still alive) and resolves with the exit code (null when ended by a signal). */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code (null when ended by a signal) once the process has exited and its output is drained. */
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  /** Name used in messages and verbose output. */
  name?: string;
}

const MAX_LOG_LINES = 2000;
const KILL_ESCALATION_MS = 10_000;

/** The monorepo root: the nearest ancestor of this file holding `nx.json` (works from src/ and dist/). */
export const repoRoot: string = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; ) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return resolve(here, '../../..');
})();

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of running) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

const live = new Set<AppProcess>();

/**
 * Runs `node <script>` as a child process with `process.env` merged with `env`, collecting its output.
 * Set `TESTKIT_VERBOSE=1` to also echo every line to the test's stderr, `TESTKIT_NODE_ARGS` to pass node flags.
 */
export function spawnScript(script: string, env: Record<string, string>, opts: SpawnOptions & { args?: string[] } = {}): AppProcess {
  const name = opts.name ?? script;
  // TESTKIT_NODE_ARGS: extra node flags for every app, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a bench.
  const nodeArgs = (process.env.TESTKIT_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, script, ...(opts.args ?? [])], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  installExitHook();

  const logs: string[] = [];
  const lineListeners = new Set<(line: string) => void>();
  const verbose = !!process.env.TESTKIT_VERBOSE;
  const onLine = (line: string) => {
    logs.push(line);
    if (logs.length > MAX_LOG_LINES) logs.splice(0, logs.length - MAX_LOG_LINES);
    if (verbose) process.stderr.write(`[${name}] ${line}\n`);
    for (const l of [...lineListeners]) l(line);
  };
  createInterface({ input: proc.stdout!, crlfDelay: Infinity }).on('line', onLine);
  createInterface({ input: proc.stderr!, crlfDelay: Infinity }).on('line', onLine);

  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolveExit) => {
    proc.once('close', (code) => {
      exitCode = code;
      running.delete(proc);
      resolveExit(code);
    });
    proc.once('error', (err) => {
      // Spawn failure: 'close' may not follow.
      onLine(`[testkit] failed to start ${name}: ${err.message}`);
      exitCode = null;
      running.delete(proc);
      resolveExit(null);
    });
  });

  const tail = (n = 40) => logs.slice(-n).join('\n');

  const app: AppProcess = {
    name,
    proc,
    logs,
    exited,
    waitForLog(re, timeoutMs = 15_000) {
      const matcher = new RegExp(re.source, re.flags.replace(/[gy]/g, ''));
      const found = logs.find((l) => matcher.test(l));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolveLog, reject) => {
        const cleanup = () => {
          clearTimeout(timer);
          lineListeners.delete(listener);
        };
        const listener = (line: string) => {
          if (matcher.test(line)) {
            cleanup();
            resolveLog(line);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`waitForLog(${re}) on ${name}: no match after ${timeoutMs} ms; last lines:\n${tail()}`));
        }, timeoutMs);
        lineListeners.add(listener);
        void exited.then((code) => {
          if (!lineListeners.has(listener)) return;
          cleanup();
          reject(new Error(`waitForLog(${re}) on ${name}: process exited (code ${code}) first; last lines:\n${tail()}`));
        });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (exitCode !== undefined) return exitCode;
      proc.kill(signal);
      const escalate = setTimeout(() => {
        if (exitCode === undefined) proc.kill('SIGKILL');
      }, KILL_ESCALATION_MS);
      try {
        return await exited;
      } finally {
        clearTimeout(escalate);
      }
    },
  };
  live.add(app);
  void exited.then(() => live.delete(app));
  return app;
}

/** Runs `node <repoRoot>/apps/<app>/dist/main.js` (build it first) with `process.env` merged with `env`. */
export function spawnApp(app: AppName, env: Record<string, string>, opts: SpawnOptions = {}): AppProcess {
  const main = join(repoRoot, 'apps', app, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`spawnApp: ${main} does not exist; build first (npm run build)`);
  return spawnScript(main, env, { name: opts.name ?? app });
}

/** Kills (SIGTERM, then SIGKILL after 10 s) every process spawned here that has not exited yet. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill('SIGTERM')));
}
