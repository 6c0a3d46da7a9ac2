import { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses environment variables with a zod shape whose keys are the variable names.
 * On failure the message names every bad variable and the value it had, so a misconfigured
 * service dies at start with one readable line per problem.
 */
export function loadConfig<S extends z.ZodRawShape>(shape: S, env: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<S>> {
  // Blank values (e.g. `FOO=` in .env) mean "unset" so defaults apply.
  const cleaned = Object.fromEntries(Object.keys(shape).map((k) => [k, env[k]?.trim() ? env[k]!.trim() : undefined]));
  const result = z.object(shape).safeParse(cleaned);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '?');
    const got = cleaned[key];
    return `  ${key}: ${issue.message}${got === undefined ? ' (not set)' : ` (got ${JSON.stringify(got)})`}`;
  });
  throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
}

/** Env fragments shared by every service. */
export const commonEnv = {
  /** Redis holding every stream; default the local server. */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Identifies this process in consumer groups and presence; default host-pid. */
  WORKER_ID: z.string().min(1).max(100).optional(),
};

export const intEnv = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .default(def);

export const boolEnv = (def: boolean) =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v))
    .default(def);
