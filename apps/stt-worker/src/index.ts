export * from './vad.js';
export * from './engines/index.js';
export * from './engines/pocketsphinx.js';
export * from './engines/openai.js';
export * from './app.js';
export * from './config.js';
export * from './transcript.js';
