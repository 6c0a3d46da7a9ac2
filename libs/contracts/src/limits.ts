// The protocol's bounds as plain values, published as `@chorus/contracts/limits`. This file must import
// nothing: the browser app imports it, and any value from the main entry bundles all of zod (~140 KB).
// The schemas read their bounds from here, so the edge's validation and the web app's forms cannot drift.

/** Longest strings, in characters. Shared by the edge (validation), the store (column sizes) and the web app (form fields). */
export const LIMITS = {
  /** Longest typed user message, in characters. */
  userText: 8000,
  /** Character and voice names. */
  name: 100,
  /** A character's persona; its greeting too. */
  systemPrompt: 20000,
  title: 200,
  /** Longest voice preview text, in characters. */
  previewText: 300,
  /** A model name in `model_settings`. */
  model: 200,
  /** Nesting of free-form JSON (a character's `extensions`, a voice's `params`): objects and arrays inside each other. */
  jsonDepth: 32,
} as const;

/** A numeric bound: `min`/`max` inclusive unless `exclusiveMin`; `integer` for whole numbers only. */
export interface NumberRange {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  readonly exclusiveMin?: boolean;
}

/** Allowed values of each numeric model setting (`model_settings`). */
export const MODEL_SETTINGS_RANGES = {
  temperature: { min: 0, max: 2 },
  top_p: { min: 0, max: 1 },
  min_p: { min: 0, max: 1 },
  top_k: { min: 0, max: 1000, integer: true },
  frequency_penalty: { min: -2, max: 2 },
  presence_penalty: { min: -2, max: 2 },
  // Multiplicative: 0 would not be a penalty, so only values above it are accepted.
  repetition_penalty: { min: 0, max: 2, exclusiveMin: true },
} as const satisfies Record<string, NumberRange>;
export type ModelSettingsNumberKey = keyof typeof MODEL_SETTINGS_RANGES;

/** Default rate of microphone PCM the edge expects. */
export const DEFAULT_INPUT_SAMPLE_RATE = 16000;
/** Microphone rates a client may announce in `start_listening`, in Hz. */
export const INPUT_SAMPLE_RATE_RANGE = { min: 8000, max: 48000, integer: true } as const satisfies NumberRange;
/** Largest text or binary frame (microphone audio included) the edge accepts before refusing it with `too_large`. */
export const MAX_FRAME_BYTES = 64 * 1024;
/**
 * Largest frame the edge reads at all. Frames between MAX_FRAME_BYTES and this are read and refused with
 * `too_large`, the connection kept; a larger one closes the socket with 1009 (Message Too Big): the edge does
 * not hold more than this per socket for a client that is not speaking the protocol.
 */
export const MAX_READ_FRAME_BYTES = 16 * 1024 * 1024;
