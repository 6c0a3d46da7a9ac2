import { ConfigError, createLogger, installShutdown } from '@chorus/runtime';
import { startEdge } from './app.js';
import { loadEdgeConfig } from './config.js';

const logger = createLogger('ws-edge');
try {
  const edge = await startEdge(loadEdgeConfig(), logger);
  installShutdown(logger, [() => edge.stop()]);
} catch (err) {
  if (err instanceof ConfigError) console.error(err.message);
  else logger.fatal({ err }, 'ws-edge failed to start');
  process.exit(1);
}
