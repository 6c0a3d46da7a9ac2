import { createLogger, runService } from '@chorus/runtime';
import { startTtsWorker } from './app.js';
import { loadTtsWorkerConfig } from './config.js';

const logger = createLogger('tts-worker');
await runService(logger, () => startTtsWorker(loadTtsWorkerConfig(), logger));
