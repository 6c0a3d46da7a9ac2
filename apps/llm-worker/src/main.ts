import { ConfigError, createLogger, installShutdown } from '@chorus/runtime';
import { startLlmWorker } from './app.js';
import { loadLlmWorkerConfig } from './config.js';

const logger = createLogger('llm-worker');
try {
  const worker = await startLlmWorker(loadLlmWorkerConfig(), logger);
  installShutdown(logger, [() => worker.stop()]);
} catch (err) {
  if (err instanceof ConfigError) console.error(err.message);
  else logger.fatal({ err }, 'llm-worker failed to start');
  process.exit(1);
}
