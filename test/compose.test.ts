/**
 * docker-compose.yml and the Dockerfile cannot be run here (no Docker daemon), so this checks what drifts
 * silently: every variable compose hands an app is one its config schema reads (a typo would be ignored, not
 * rejected), every variable an app requires is set, and the values compose sets pass the app's own config
 * loader. Plus the wiring the stack relies on, and `docker-compose config` when the binary is there.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { edgeEnv, loadEdgeConfig } from '../apps/ws-edge/src/config.js';
import { llmWorkerEnv, loadLlmWorkerConfig } from '../apps/llm-worker/src/config.js';
import { loadSttWorkerConfig, sttWorkerEnv } from '../apps/stt-worker/src/config.js';
import { loadTtsWorkerConfig, ttsWorkerEnv } from '../apps/tts-worker/src/config.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(root + file, 'utf8');

/** Each compose service built from our Dockerfile: the app it runs, its env schema and its config loader. */
const APPS: Record<string, { app: string; shape: z.ZodRawShape; load: (env: NodeJS.ProcessEnv) => unknown }> = {
  'ws-edge': { app: 'ws-edge', shape: edgeEnv, load: loadEdgeConfig },
  'llm-worker': { app: 'llm-worker', shape: llmWorkerEnv, load: loadLlmWorkerConfig },
  'stt-worker': { app: 'stt-worker', shape: sttWorkerEnv, load: loadSttWorkerConfig },
  'tts-worker': { app: 'tts-worker', shape: ttsWorkerEnv, load: loadTtsWorkerConfig },
  'tts-worker-gpu': { app: 'tts-worker', shape: ttsWorkerEnv, load: loadTtsWorkerConfig },
};
/**
 * Variables compose may set that no schema lists, with the reason. Empty on purpose: what the NVIDIA runtime
 * reads (NVIDIA_*) is set in the Dockerfile, so compose hands the apps nothing but their own settings.
 */
const PASSTHROUGH: Record<string, string> = {};

type Service = {
  build?: { context: string; target: string };
  environment?: Record<string, string | number | null> | string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver?: string; capabilities?: string[] }> } } };
};
// YAML 1.1 as compose reads it: `<<` merge keys work, and an unquoted yes/on is a boolean (which compose
// rejects in `environment`; caught below).
const compose = parse(read('docker-compose.yml'), { version: '1.1', merge: true }) as { services: Record<string, Service> };
const dockerfile = read('Dockerfile');

/**
 * Compose interpolation as it happens with no `.env` and nothing exported: `${X:-d}`/`${X-d}` give d,
 * `${X}`/`$X` give '', `$$` is a literal `$`, and `${X:?msg}` would stop compose, so it throws.
 */
function interpolate(value: string, env: Record<string, string> = {}): string {
  return value.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (all, dollar, name, op, arg, bare) => {
    if (dollar === '$') return '$';
    const key = name ?? bare;
    const set = env[key];
    const missing = op?.startsWith(':') ? !set : set === undefined;
    if (!op || !missing) return set ?? '';
    if (op.endsWith('?')) throw new Error(`${all}: compose refuses to start without ${key}`);
    return interpolate(arg, env);
  });
}

/** A service's environment as its container gets it (list or map form; `KEY:` alone passes nothing here). */
function environment(service: Service): Record<string, string> {
  const raw = service.environment ?? {};
  const pairs: Array<[string, unknown]> = Array.isArray(raw)
    ? raw.map((line) => [line.split('=')[0], line.includes('=') ? line.slice(line.indexOf('=') + 1) : null])
    : Object.entries(raw);
  const env: Record<string, string> = {};
  for (const [key, value] of pairs) {
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`${key}: compose accepts only strings and numbers, got ${JSON.stringify(value)}`);
    env[key] = interpolate(String(value));
  }
  return env;
}

/** A schema field the app cannot start without: no default and not optional. */
const isRequired = (field: z.ZodType) => !field.safeParse(undefined).success;

/** The Dockerfile's stages: name → instructions. */
const stages = new Map<string, string>();
for (const part of dockerfile.split(/^(?=FROM )/m).slice(1)) {
  const name = /^FROM \S+ AS (\S+)/.exec(part)?.[1];
  if (name) stages.set(name, part);
}

const appServices = Object.entries(compose.services).filter(([, s]) => s.build);

describe('docker-compose.yml', () => {
  it('builds every app service from a known Dockerfile target', () => {
    expect(appServices.map(([name]) => name).sort()).toEqual(Object.keys(APPS).sort());
    for (const [name, service] of appServices) {
      expect(service.build?.context, name).toBe('.');
      expect(stages.has(service.build!.target), `${name}: no stage ${service.build!.target} in Dockerfile`).toBe(true);
      // The stage runs the app the schema belongs to.
      expect(stages.get(service.build!.target), name).toContain(`CMD ["node", "apps/${APPS[name].app}/dist/main.js"]`);
    }
  });

  it("sets only variables the app's config schema reads", () => {
    for (const [name, service] of appServices) {
      const unknown = Object.keys(environment(service)).filter((k) => !(k in APPS[name].shape) && !(k in PASSTHROUGH));
      expect(unknown, `${name} sets variables its config ignores`).toEqual([]);
    }
  });

  it('sets every variable an app requires', () => {
    expect(isRequired(z.string())).toBe(true); // the check itself is not vacuous
    for (const [name, service] of appServices) {
      const env = environment(service);
      const required = Object.entries(APPS[name].shape).filter(([, field]) => isRequired(field as z.ZodType));
      expect(required.map(([k]) => k).filter((k) => !env[k]?.trim()), `${name} lacks required variables`).toEqual([]);
    }
  });

  it("sets values the app's config loader accepts (defaults substituted, no .env)", () => {
    for (const [name, service] of appServices) {
      expect(() => APPS[name].load(environment(service)), name).not.toThrow();
    }
  });

  it("restates no app default (a copy here would silently override a later change of the app's)", () => {
    for (const [name, service] of appServices) {
      const restated = Object.entries(environment(service)).filter(([key, value]) => {
        const field = APPS[name].shape[key] as z.ZodType | undefined;
        return field && value.trim() && isDeepStrictEqual(field.safeParse(value.trim()).data, field.safeParse(undefined).data);
      });
      expect(restated.map(([k]) => k), name).toEqual([]);
    }
  });

  it('wires the apps to the redis and postgres services', () => {
    for (const [name, service] of appServices) {
      expect(environment(service).REDIS_URL, name).toBe('redis://redis:6379');
      expect(service.depends_on?.redis?.condition, name).toBe('service_healthy');
    }
    const pg = environment(compose.services.postgres);
    const edge = compose.services['ws-edge'];
    expect(environment(edge).DATABASE_URL).toBe(`postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`);
    expect(edge.depends_on?.postgres?.condition).toBe('service_healthy');
    expect(edge.healthcheck?.test.join(' ')).toContain('/readyz');
    // Interpolation as the test does it: a set variable wins, `:-` also covers a blank one.
    expect(interpolate('${A:-x}/${B-y}/${C:-z}/$$', { A: 'a', C: '' })).toBe('a/y/z/$');
  });

  it('keeps the GPU worker in its own profile with an NVIDIA reservation', () => {
    const gpu = compose.services['tts-worker-gpu'];
    expect(gpu.profiles).toEqual(['gpu']);
    expect(gpu.deploy?.resources?.reservations?.devices?.[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
    expect(loadTtsWorkerConfig(environment(gpu)).ONNX_TTS_PROVIDERS[0]).toBe('cuda');
    expect(loadTtsWorkerConfig(environment(compose.services['tts-worker'])).ONNX_TTS_PROVIDERS).toEqual(['cpu']);
    // Unprofiled services are the default `docker compose up`.
    expect(appServices.filter(([, s]) => s.profiles).map(([n]) => n)).toEqual(['tts-worker-gpu']);
  });
});

describe('Dockerfile', () => {
  // Workspaces by their manifests, as npm sees them (root package.json: "libs/*", "apps/*").
  const workspaces = ['apps', 'libs'].flatMap((dir) =>
    readdirSync(root + dir).filter((ws) => existsSync(`${root}${dir}/${ws}/package.json`)).map((ws) => `${dir}/${ws}`),
  );

  it("copies every workspace's package.json before `npm ci` (else the lockfile install fails)", () => {
    const manifests = stages.get('manifests') ?? '';
    for (const ws of workspaces) expect(manifests, ws).toContain(`COPY ${ws}/package.json ${ws}/`);
  });

  it('gives each image what its engines need, run as a non-root user', () => {
    expect(stages.get('stt-worker')).toMatch(/apt-get install .*pocketsphinx pocketsphinx-en-us/);
    expect(stages.get('ort-cuda')).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    expect(stages.get('tts-worker-gpu')).toMatch(/COPY --from=ort-cuda .*onnxruntime-node/);
    expect(stages.get('base')).toMatch(/^STOPSIGNAL SIGTERM$/m);
    for (const target of Object.keys(APPS)) expect(stages.get(target), target).toMatch(/^FROM base AS .*\n[^]*^USER node$/m);
  });

  it('bundles exactly the apps compose runs', () => {
    const apps = [...new Set(Object.values(APPS).map((a) => a.app))].sort();
    const loops = [...dockerfile.matchAll(/for app in ([^;]+);/g)].map((m) => m[1].trim().split(/\s+/).sort());
    expect(loops.length).toBeGreaterThan(0);
    for (const loop of loops) expect(loop).toEqual(apps);
  });
});

/** `docker compose` (v2 plugin) or the Debian `docker-compose` (v1), whichever answers. */
function composeCommand(): string[] | null {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    const r = spawnSync(cmd[0], [...cmd.slice(1), 'version'], { stdio: 'ignore' });
    if (r.status === 0) return cmd;
  }
  return null;
}
const composeCmd = composeCommand();

describe('docker-compose config', () => {
  it.skipIf(!composeCmd)('validates the file, with and without the gpu profile', () => {
    for (const profile of [[], ['--profile', 'gpu']]) {
      const [bin, ...args] = composeCmd!;
      const r = spawnSync(bin, [...args, ...profile, '-f', 'docker-compose.yml', 'config', '-q'], { cwd: root, encoding: 'utf8' });
      expect(r.status, `${composeCmd!.join(' ')} ${profile.join(' ')} config: ${r.stderr}`).toBe(0);
    }
  });
});
