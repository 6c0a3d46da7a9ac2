import { createLogger, runService } from '@chorus/runtime';
import { startSttWorker } from './app.js';
import { loadSttWorkerConfig } from './config.js';

const logger = createLogger('stt-worker');
await runService(logger, () => startSttWorker(loadSttWorkerConfig(), logger));
