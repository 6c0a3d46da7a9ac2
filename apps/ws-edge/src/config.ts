import { STAGES } from '@chorus/contracts';
import { boolEnv, commonEnv, intEnv, loadConfig } from '@chorus/runtime';
import { z } from 'zod';

/** ws-edge settings from the environment; defaults are documented in README's config table. */
export const edgeEnv = {
  ...commonEnv,
  PORT: intEnv(8080, 0, 65535),
  HOST: z.string().default('0.0.0.0'),
  /** postgres://… for PostgreSQL; unset → embedded PGlite under DATA_DIR. */
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  /** PGlite and other local state. */
  DATA_DIR: z.string().default('./data'),
  SUPABASE_URL: z.string().url().optional(),
  SUPABASE_SERVICE_ROLE_KEY: z.string().optional(),
  /** When set, sockets must present it (?token= or Authorization: Bearer). */
  EDGE_TOKEN: z.string().min(8, 'must be at least 8 characters').optional(),
  /** Display name of the user in the characters' transcript. */
  USER_NAME: z.string().trim().min(1).max(100).default('User'),
  /** Stages /readyz requires a live worker for (comma-separated). */
  REQUIRED_STAGES: z
    .string()
    .default(STAGES.join(','))
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(STAGES))),
  /** A socket whose unsent data exceeds this is closed as too slow (bytes). */
  MAX_SOCKET_BUFFER_BYTES: intEnv(8 * 1024 * 1024, 64 * 1024),
  /**
   * Every socket is pinged this often; one that has not answered the previous ping (gone without closing, or
   * not reading) is cut off (ms).
   */
  WS_PING_INTERVAL_MS: intEnv(30_000, 100),
  /** A message whose audio stops advancing for this long is skipped, so later messages still play (ms). */
  AUDIO_WAIT_MS: intEnv(20_000, 100),
  /** Audio reading pauses while a socket has more than this unsent (bytes). */
  AUDIO_HIGH_WATER_BYTES: intEnv(512 * 1024, 16 * 1024),
  /** Microphone frames kept per listening session in Redis (≈ 20 ms each). */
  MIC_MAX_FRAMES: intEnv(3000, 100, 1_000_000),
  /** A listening session's frames expire this long after the last one (s). */
  MIC_TTL_SEC: intEnv(600, 10),
  /** Speech of the user over a character's audio interrupts it (barge-in). */
  BARGE_IN: boolEnv(true),
  /** The built web app served at / (default: apps/web/dist of this checkout). */
  WEB_DIR: z.string().optional(),
  /**
   * Write-behind: turns whose messages reach the edge within this long are saved in one transaction (ms).
   * get_messages shows the unsaved ones (KEYS.unsaved) meanwhile, and reads save this edge's batch first.
   */
  PERSIST_BATCH_MS: intEnv(1000, 0, 60_000),
  /** Messages loaded from the database into Redis when a conversation is opened. */
  HISTORY_MAX: intEnv(100, 1, 10_000),
};

export type EdgeConfig = ReturnType<typeof loadEdgeConfig>;

export function loadEdgeConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadConfig(edgeEnv, env);
  if (Boolean(c.SUPABASE_URL) !== Boolean(c.SUPABASE_SERVICE_ROLE_KEY)) {
    loadConfig({ SUPABASE_SERVICE_ROLE_KEY: z.string({ message: 'required when SUPABASE_URL is set (and vice versa)' }) }, {});
  }
  return c;
}
