export * from './pcm.js';
export * from './wav.js';
