import { z } from 'zod';
import { LIMITS, MODEL_SETTINGS_RANGES, type NumberRange } from './limits.js';

/** A number within `r`, checked exactly as `r` says (forms and descriptions show the same `r`). */
export const numberIn = (r: NumberRange) => {
  const n = r.integer ? z.number().int() : z.number();
  return (r.exclusiveMin ? n.gt(r.min) : n.min(r.min)).max(r.max);
};

export const Id = z.string().min(1).max(100);
/** A name left empty (or only spaces): said plainly, as the forms show it. */
const NAME_EMPTY = 'a name is needed (it is empty or only spaces)';
export const IsoTime = z.string();

/** Sampling settings of a conversation; every field optional (endpoint defaults apply). */
const ModelSettingsFields = {
  model: z.string().min(1).max(LIMITS.model),
  temperature: numberIn(MODEL_SETTINGS_RANGES.temperature),
  top_p: numberIn(MODEL_SETTINGS_RANGES.top_p),
  min_p: numberIn(MODEL_SETTINGS_RANGES.min_p),
  top_k: numberIn(MODEL_SETTINGS_RANGES.top_k),
  frequency_penalty: numberIn(MODEL_SETTINGS_RANGES.frequency_penalty),
  presence_penalty: numberIn(MODEL_SETTINGS_RANGES.presence_penalty),
  repetition_penalty: numberIn(MODEL_SETTINGS_RANGES.repetition_penalty),
} satisfies { model: z.ZodString } & Record<keyof typeof MODEL_SETTINGS_RANGES, z.ZodNumber>;
export const ModelSettings = z.object(ModelSettingsFields).partial().strict();
export type ModelSettings = z.infer<typeof ModelSettings>;

/** A `model_settings` request: the fields to change; `null` (addition) clears a field back to the endpoint's default. */
export const ModelSettingsPatch = z
  .object(
    Object.fromEntries(Object.entries(ModelSettingsFields).map(([k, v]) => [k, v.nullable()])) as {
      [K in keyof typeof ModelSettingsFields]: z.ZodNullable<(typeof ModelSettingsFields)[K]>;
    },
  )
  .partial()
  .strict();
export type ModelSettingsPatch = z.infer<typeof ModelSettingsPatch>;

/** Whether `value` nests objects/arrays deeper than `max` levels; stops looking at the limit (input may be very deep). */
export function nestedDeeper(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (max <= 0) return true;
  for (const v of Array.isArray(value) ? value : Object.values(value)) if (nestedDeeper(v, max - 1)) return true;
  return false;
}

/**
 * Free-form JSON (extensions, engine params). Its depth is bounded: a value nested a few thousand levels deep
 * (a 12 KB frame) is stored fine but cannot cross back from the edge's database thread (structured clone
 * runs out of stack), which left every later catalogue read waiting.
 */
export const JsonRecord = z
  .record(z.string(), z.unknown())
  .refine((v) => !nestedDeeper(v, LIMITS.jsonDepth), { message: `nested deeper than ${LIMITS.jsonDepth} levels` });

export const Voice = z.object({
  id: Id,
  name: z.string(),
  /** Names a TTS engine of the tts-worker (e.g. `flite`, `onnx`, `openai`). */
  engine: z.string(),
  /** Engine settings, e.g. `{voice: 'rms', duration_stretch: 1.1}`. */
  params: JsonRecord,
  created_at: IsoTime.optional(),
  updated_at: IsoTime.optional(),
});
export type Voice = z.infer<typeof Voice>;

export const VoiceCreate = z
  .object({
    id: Id.optional(),
    name: z.string().trim().min(1, NAME_EMPTY).max(LIMITS.name),
    engine: z.string().trim().min(1).max(50),
    params: JsonRecord.optional(),
  })
  .strict();
export type VoiceCreate = z.infer<typeof VoiceCreate>;
/** An unsaved voice (the voice editor's form), for previews: `name` optional. */
export const VoiceDraft = VoiceCreate.omit({ id: true }).partial({ name: true });
export type VoiceDraft = z.infer<typeof VoiceDraft>;
export const VoiceUpdate = VoiceCreate.omit({ id: true }).partial().extend({ id: Id }).strict();
export type VoiceUpdate = z.infer<typeof VoiceUpdate>;

/** One setting of a TTS engine's `params`, described so a client can build a voice form. */
export const TtsEngineParam = z.object({
  key: z.string(),
  type: z.enum(['string', 'number', 'boolean', 'enum']),
  description: z.string(),
  default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  /** The allowed values of an `enum` param. */
  options: z.array(z.string()).optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  /** The voice does not work without it. */
  required: z.boolean().optional(),
});
export type TtsEngineParam = z.infer<typeof TtsEngineParam>;

/** A voice an engine offers out of the box; `id` is the value of its `voice` param. */
export const TtsEngineVoice = z.object({ id: z.string(), name: z.string(), language: z.string().optional() });
export type TtsEngineVoice = z.infer<typeof TtsEngineVoice>;

/** What a TTS engine of the tts-workers offers (`get_tts_engines`). */
export const TtsEngineInfo = z.object({
  name: z.string(),
  available: z.boolean(),
  /** Why it is unavailable, and how to make it available. */
  reason: z.string().optional(),
  voices: z.array(TtsEngineVoice),
  params: z.array(TtsEngineParam),
});
export type TtsEngineInfo = z.infer<typeof TtsEngineInfo>;

export const Character = z.object({
  id: Id,
  name: z.string(),
  system_prompt: z.string(),
  voice_id: Id.nullable(),
  active: z.boolean(),
  order: z.number().int(),
  image_url: z.string().nullable().optional(),
  /** Opening line the character may greet with (Character Card `first_mes`). */
  greeting: z.string().nullable().optional(),
  /** Free-form extension data (Character Card V2 `extensions`), kept as-is. */
  extensions: JsonRecord.optional(),
  created_at: IsoTime,
  updated_at: IsoTime,
});
export type Character = z.infer<typeof Character>;

const characterFields = {
  name: z
    .string()
    .trim()
    .min(1, NAME_EMPTY)
    .max(LIMITS.name)
    .refine((n) => !/\p{Cc}/u.test(n), 'a name is one line, without control characters (line breaks, tabs)'),
  system_prompt: z.string().max(LIMITS.systemPrompt),
  voice_id: Id.nullable(),
  active: z.boolean(),
  order: z.number().int().min(-1_000_000).max(1_000_000),
  image_url: z.string().max(2000).nullable(),
  greeting: z.string().max(LIMITS.systemPrompt).nullable(),
  extensions: JsonRecord,
};
export const CharacterCreate = z
  .object({ id: Id.optional(), ...characterFields })
  .partial()
  .required({ name: true })
  .strict();
export type CharacterCreate = z.infer<typeof CharacterCreate>;
export const CharacterUpdate = z.object({ id: Id, ...characterFields }).partial().required({ id: true }).strict();
export type CharacterUpdate = z.infer<typeof CharacterUpdate>;

export const Conversation = z.object({
  id: Id,
  title: z.string(),
  model_settings: ModelSettings,
  created_at: IsoTime,
  updated_at: IsoTime,
  /** Present in listings: number of stored messages. */
  message_count: z.number().int().optional(),
});
export type Conversation = z.infer<typeof Conversation>;

export const MessageRole = z.enum(['user', 'assistant']);
export type MessageRole = z.infer<typeof MessageRole>;

export const Message = z.object({
  id: Id,
  conversation_id: Id,
  role: MessageRole,
  /** Speaker name: the user's display name or the character's name. */
  name: z.string(),
  character_id: Id.nullable(),
  content: z.string(),
  turn_id: Id.nullable(),
  /** True when the reply was cut off by an interrupt. */
  interrupted: z.boolean(),
  /** How much of the reply's audio the user heard before interrupting, when known. */
  audio_end_ms: z.number().nullable(),
  created_at: IsoTime,
});
export type Message = z.infer<typeof Message>;
