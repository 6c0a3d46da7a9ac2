import type { Logger } from 'pino';

/**
 * Runs the given steps in order on SIGTERM/SIGINT (stop reading, finish or hand back work, close
 * connections), then exits 0. A second signal or the timeout forces exit 1.
 */
export function installShutdown(logger: Logger, steps: Array<() => Promise<unknown>>, opts: { timeoutMs?: number } = {}) {
  let stopping = false;
  const run = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, opts.timeoutMs ?? 15_000);
    timer.unref();
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        logger.error({ err }, 'shutdown step failed');
      }
    }
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void run('SIGTERM'));
  process.on('SIGINT', () => void run('SIGINT'));
}
