import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; `npm start` prefixes each line with the app's name. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { app: name } });
}
