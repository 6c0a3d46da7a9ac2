#!/usr/bin/env node
// `npm start`: the whole stack on embedded defaults. Installs and builds when needed, uses the Redis at
// REDIS_URL or starts a local redis-server, then runs every app as its own process with prefixed logs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dotEnvWarnings, parseDotEnv } from './env-check.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

/** Apps in start order; `stage` is what /readyz requires a live worker for. */
const APPS = [
  { name: 'ws-edge' },
  { name: 'llm-worker', stage: 'llm' },
  { name: 'stt-worker', stage: 'stt' },
  { name: 'tts-worker', stage: 'tts' },
];
const COLOURS = { 'ws-edge': 36, 'llm-worker': 35, 'stt-worker': 33, 'tts-worker': 32, redis: 31, start: 1 };
const tty = process.stdout.isTTY;
const prefix = (name) => (tty ? `\x1b[${COLOURS[name] ?? 0}m[${name}]\x1b[0m ` : `[${name}] `);
const say = (msg) => console.log(prefix('start') + msg);

loadDotEnv(path.join(root, '.env'));
const env = { ...process.env };

if (!existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  say('installing dependencies (npm ci)…');
  run('npm', [existsSync('package-lock.json') ? 'ci' : 'install', '--no-audit', '--no-fund']);
}
say('building…');
run('npm', ['run', '--silent', 'build']);
for (const w of await dotEnvWarnings(root, path.join(root, '.env'))) say(w);

const children = [];
let stopping = false;

const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
if (!(await redisAnswers(redisUrl))) {
  const u = new URL(redisUrl);
  const local = ['127.0.0.1', 'localhost', '::1'].includes(u.hostname);
  const bin = which('redis-server');
  if (!local || !bin) {
    console.error(
      prefix('start') +
        `Redis is not reachable at ${redisUrl}` +
        (local ? ' and redis-server is not installed. Install it (e.g. `apt-get install redis-server`, `brew install redis`) or set REDIS_URL.' : '. Check REDIS_URL.'),
    );
    process.exit(1);
  }
  const dir = path.resolve(env.DATA_DIR || './data', 'redis');
  mkdirSync(dir, { recursive: true });
  say(`no Redis at ${redisUrl}; starting redis-server (data in ${dir})`);
  // Append-only so queued write-behind jobs survive a restart of the stack.
  launch('redis', bin, ['--port', u.port || '6379', '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '']);
  for (let i = 0; !(await redisAnswers(redisUrl)); i++) {
    if (i > 50) fail('redis-server did not start');
    await sleep(100);
  }
}

let present = APPS.filter((a) => existsSync(path.join(root, 'apps', a.name, 'dist', 'main.js')));
if (present.some((a) => a.name === 'stt-worker') && !voiceInputReady()) {
  present = present.filter((a) => a.name !== 'stt-worker');
}
env.REQUIRED_STAGES ??= present.filter((a) => a.stage).map((a) => a.stage).join(',');
for (const app of present) launch(app.name, process.execPath, [path.join('apps', app.name, 'dist', 'main.js')], app.name === 'ws-edge');

process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

function launch(name, cmd, args, isEdge = false) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push({ name, child });
  const onLine = (line) => {
    console.log(prefix(name) + pretty(line));
    if (isEdge && line.includes('"ws-edge ready"')) {
      const url = JSON.parse(line).url;
      say(`open ${url}  (Ctrl+C stops everything)`);
    }
  };
  lines(child.stdout, onLine);
  lines(child.stderr, onLine);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(prefix('start') + `${name} exited (${signal ?? code}); stopping the stack`);
    shutdown(1);
  });
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  // Apps first (they flush to Redis), Redis last.
  const apps = children.filter((c) => c.name !== 'redis');
  await Promise.all(apps.map(({ child }) => stop(child)));
  await Promise.all(children.filter((c) => c.name === 'redis').map(({ child }) => stop(child)));
  process.exit(code);
}

function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 15000);
    child.once('exit', () => (clearTimeout(t), resolve()));
    child.kill('SIGTERM');
  });
}

/** One readable line from a pino JSON line: level, message and the interesting fields. */
function pretty(line) {
  if (!line.startsWith('{')) return line;
  try {
    const { level, time, msg, pid, hostname, name, app, ...rest } = JSON.parse(line);
    const lvl = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }[level] ?? level;
    const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
    return `${lvl} ${msg ?? ''}${extra}`;
  } catch {
    return line;
  }
}

function lines(stream, cb) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      cb(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

function redisAnswers(url) {
  const u = new URL(url);
  if (u.protocol !== 'redis:') return Promise.resolve(true); // TLS: let the apps connect and report
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port || 6379) });
    const done = (ok) => (s.destroy(), resolve(ok));
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => {
      const auth = u.password ? `AUTH ${u.username ? decodeURIComponent(u.username) + ' ' : ''}${decodeURIComponent(u.password)}\r\n` : '';
      s.write(auth + 'PING\r\n');
    });
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.includes('+PONG')) done(true);
      else if (got.includes('-')) done(false);
    });
  });
}

/**
 * The embedded STT engine needs Debian's pocketsphinx: installed here when missing and possible (root with
 * apt-get); otherwise the stack starts without voice input and says why. Other engines need nothing local.
 */
function voiceInputReady() {
  const engine = env.STT_ENGINE || 'pocketsphinx';
  if (engine !== 'pocketsphinx') return true;
  const model = path.join(env.POCKETSPHINX_MODEL_DIR || '/usr/share/pocketsphinx/model/en-us', 'en-us');
  const ready = () => which(env.POCKETSPHINX_BIN || 'pocketsphinx_continuous') && which('stdbuf') && existsSync(model);
  if (ready()) return true;
  if (process.getuid?.() === 0 && which('apt-get')) {
    say('voice input needs pocketsphinx; installing it (apt-get install pocketsphinx pocketsphinx-en-us)…');
    const apt = (args) => spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
    if (apt(['update', '-qq']) && apt(['install', '-y', '-qq', 'pocketsphinx', 'pocketsphinx-en-us']) && ready()) return true;
  }
  say(
    'starting WITHOUT voice input: pocketsphinx is not installed (apt-get install pocketsphinx pocketsphinx-en-us, ' +
      'or set STT_ENGINE=openai with STT_OPENAI_BASE_URL). Typing works; the mic button will say voice input is unavailable.',
  );
  return false;
}

function which(bin) {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: process.env });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed`);
}

function fail(msg) {
  console.error(prefix('start') + msg);
  process.exit(1);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** KEY=value lines; the environment wins over the file. */
function loadDotEnv(file) {
  if (!existsSync(file)) return;
  for (const [name, value] of parseDotEnv(readFileSync(file, 'utf8'))) if (process.env[name] === undefined) process.env[name] = value;
}
