import { createLogger, runService } from '@chorus/runtime';
import { startEdge } from './app.js';
import { loadEdgeConfig } from './config.js';

const logger = createLogger('ws-edge');
await runService(logger, () => startEdge(loadEdgeConfig(), logger));
