import { createLogger, runService } from '@chorus/runtime';
import { startLlmWorker } from './app.js';
import { loadLlmWorkerConfig } from './config.js';

const logger = createLogger('llm-worker');
await runService(logger, () => startLlmWorker(loadLlmWorkerConfig(), logger));
