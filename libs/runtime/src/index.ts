export * from './config.js';
export * from './consumer.js';
export * from './logger.js';
export * from './metrics.js';
export * from './presence.js';
export * from './redis.js';
export * from './shutdown.js';
export * from './tail.js';
