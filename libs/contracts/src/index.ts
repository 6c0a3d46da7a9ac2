export * from './entities.js';
export * from './history.js';
export * from './keys.js';
export * from './limits.js';
export * from './socket.js';
export * from './streams.js';
export * from './time.js';
export * from './unsaved.js';
