import { boolEnv, commonEnv, ConfigError, intEnv, loadConfig } from '@chorus/runtime';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const shape = {
  ...commonEnv,
  PORT: intEnv(8080, 0, 65535),
  VERBOSE: boolEnv(false),
  NAME: z.string().min(1),
};

/** The ConfigError thrown by loadConfig, or a failure when it does not throw one. */
function configError(env: Record<string, string | undefined>, s: z.ZodRawShape = shape): ConfigError {
  try {
    loadConfig(s, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).name).toBe('ConfigError');
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('applies the defaults of unset variables', () => {
    const c = loadConfig(shape, { NAME: 'svc' });
    expect(c).toEqual({ REDIS_URL: 'redis://127.0.0.1:6379', LOG_LEVEL: 'info', PORT: 8080, VERBOSE: false, NAME: 'svc' });
    expect(c.WORKER_ID).toBeUndefined();
  });

  it('parses the values that are set', () => {
    const c = loadConfig(shape, {
      NAME: 'svc',
      REDIS_URL: 'rediss://cache.example:6380/2',
      LOG_LEVEL: 'debug',
      WORKER_ID: 'w-1',
      PORT: '9000',
      VERBOSE: 'yes',
    });
    expect(c).toEqual({ NAME: 'svc', REDIS_URL: 'rediss://cache.example:6380/2', LOG_LEVEL: 'debug', WORKER_ID: 'w-1', PORT: 9000, VERBOSE: true });
  });

  it('treats empty strings as unset so the defaults apply', () => {
    const c = loadConfig(shape, { NAME: 'svc', REDIS_URL: '', LOG_LEVEL: '', PORT: '', VERBOSE: '', WORKER_ID: '' });
    expect(c).toMatchObject({ REDIS_URL: 'redis://127.0.0.1:6379', LOG_LEVEL: 'info', PORT: 8080, VERBOSE: false });
    expect(c.WORKER_ID).toBeUndefined();
  });

  it('reports an empty required variable as not set', () => {
    const err = configError({ NAME: '' });
    expect(err.message).toMatch(/NAME: .*\(not set\)/);
  });

  it('ignores variables that are not in the shape', () => {
    const c = loadConfig({ PORT: intEnv(1) }, { PORT: '2', PATH: '/usr/bin', OTHER: 'x' });
    expect(c).toEqual({ PORT: 2 });
  });

  it('names every bad variable together with the value it had', () => {
    const err = configError({ REDIS_URL: 'http://localhost:6379', LOG_LEVEL: 'loud', PORT: 'eighty', VERBOSE: 'maybe' });
    const lines = err.message.split('\n');
    expect(lines[0]).toBe('Invalid configuration:');
    const line = (name: string) => lines.find((l) => l.trimStart().startsWith(`${name}:`));
    expect(line('REDIS_URL')).toContain('(got "http://localhost:6379")');
    expect(line('REDIS_URL')).toContain('must be a redis:// or rediss:// URL');
    expect(line('LOG_LEVEL')).toContain('(got "loud")');
    expect(line('PORT')).toContain('(got "eighty")');
    expect(line('VERBOSE')).toContain('(got "maybe")');
    expect(line('NAME')).toContain('(not set)');
    // Exactly one line per problem; good variables are not mentioned.
    expect(lines).toHaveLength(1 + 5);
    expect(err.message).not.toContain('WORKER_ID');
  });

  it('reads process.env by default', () => {
    const key = 'CHORUS_CONFIG_TEST_VALUE';
    process.env[key] = '17';
    try {
      expect(loadConfig({ [key]: intEnv(1) })).toEqual({ [key]: 17 });
    } finally {
      delete process.env[key];
    }
  });
});

describe('intEnv', () => {
  const load = (v: string | undefined, min?: number, max?: number) => loadConfig({ N: intEnv(5, min, max) }, { N: v }).N;

  it('treats a blank value as unset and trims surrounding spaces', () => {
    expect(load('   ')).toBe(5);
    expect(load(' 42 ')).toBe(42);
  });

  it('rejects hex and exponent forms instead of reading them as numbers', () => {
    expect(() => load('0x10')).toThrow(/N: must be a whole number \(got "0x10"\)/);
    expect(() => load('1e3')).toThrow(/whole number/);
  });

  it('parses integers and falls back to the default', () => {
    expect(load('42')).toBe(42);
    expect(load('0')).toBe(0);
    expect(load(undefined)).toBe(5);
    expect(load('')).toBe(5);
  });

  it('accepts the bounds themselves', () => {
    expect(load('1', 1, 10)).toBe(1);
    expect(load('10', 1, 10)).toBe(10);
  });

  it.each([
    ['not a number', 'abc'],
    ['a number with trailing junk', '42abc'],
    ['a fraction', '3.5'],
    ['a negative number under the default minimum 0', '-1'],
    ['infinity', 'Infinity'],
  ])('rejects %s', (_what, value) => {
    const err = configError({ N: value }, { N: intEnv(5) });
    expect(err.message).toContain(`N: `);
    expect(err.message).toContain(`(got ${JSON.stringify(value)})`);
  });

  it('rejects values outside [min, max]', () => {
    expect(configError({ N: '0' }, { N: intEnv(5, 1, 10) }).message).toContain('(got "0")');
    expect(configError({ N: '11' }, { N: intEnv(5, 1, 10) }).message).toContain('(got "11")');
  });
});

describe('boolEnv', () => {
  const load = (v: string | undefined, def = false) => loadConfig({ B: boolEnv(def) }, { B: v }).B;

  it.each(['1', 'true', 'yes', 'on'])('reads %j as true', (v) => {
    expect(load(v)).toBe(true);
  });

  it.each(['0', 'false', 'no', 'off'])('reads %j as false', (v) => {
    expect(load(v, true)).toBe(false);
  });

  it('falls back to the default when unset or empty', () => {
    expect(load(undefined, true)).toBe(true);
    expect(load('', true)).toBe(true);
    expect(load(undefined, false)).toBe(false);
  });

  it.each(['maybe', 'TRUE', '2', 'y es'])('rejects %j and names the value', (v) => {
    expect(configError({ B: v }, { B: boolEnv(false) }).message).toContain(`B: `);
    expect(configError({ B: v }, { B: boolEnv(false) }).message).toContain(`(got ${JSON.stringify(v)})`);
  });
});
