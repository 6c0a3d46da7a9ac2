// The stt-worker app (issue 4) is being built; these modules are its first parts.
export * from './vad.js';
export * from './engines/engine.js';
export * from './engines/pocketsphinx.js';
