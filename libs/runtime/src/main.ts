import { ConfigError } from './config.js';
import type { Logger } from './logger.js';
import { installShutdown } from './shutdown.js';

/**
 * The whole of an app's main.ts: start it, stop it gracefully on SIGTERM/SIGINT, and die with a readable
 * message (a bad variable named by the config) when it cannot start.
 */
export async function runService(logger: Logger, start: () => Promise<{ stop(): Promise<void> }>): Promise<void> {
  try {
    const service = await start();
    installShutdown(logger, [() => service.stop()]);
  } catch (err) {
    if (err instanceof ConfigError) console.error(err.message);
    else logger.fatal({ err }, 'failed to start');
    process.exit(1);
  }
}
