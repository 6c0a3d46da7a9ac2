export * from './ports.js';
export * from './wait.js';
export * from './redis.js';
export * from './scripted-llm.js';
export * from './ws-client.js';
export * from './processes.js';
export * from './postgres.js';
export * from './stack.js';
