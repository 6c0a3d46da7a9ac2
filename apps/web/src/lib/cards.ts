/**
 * Character Card V2 import/export (https://github.com/malfoyslastname/character-card-spec-v2).
 * Pure and dependency-free: runs in the browser and in Node tests (no Buffer, no DOM).
 *
 * Our bookkeeping lives in `extensions.chorus` (a namespace other keys of which, e.g. `stage_directions`,
 * belong to the rest of the app): `card` keeps the card's original text fields so an export can restore
 * them, `card_persona` the system prompt composed on import (to tell whether it was edited since), and
 * `voice` describes the character's voice in exported cards.
 */
import { isPng, readTextChunks, removeTextChunks, withTextChunk } from './png.js';

export interface CharacterBookEntry {
  keys: string[];
  content: string;
  extensions: Record<string, unknown>;
  enabled: boolean;
  insertion_order: number;
  case_sensitive?: boolean;
  name?: string;
  priority?: number;
  id?: number;
  comment?: string;
  selective?: boolean;
  secondary_keys?: string[];
  constant?: boolean;
  position?: 'before_char' | 'after_char';
}

export interface CharacterBook {
  name?: string;
  description?: string;
  scan_depth?: number;
  token_budget?: number;
  recursive_scanning?: boolean;
  extensions: Record<string, unknown>;
  entries: CharacterBookEntry[];
}

export interface CardData {
  name: string;
  description: string;
  personality: string;
  scenario: string;
  first_mes: string;
  mes_example: string;
  creator_notes: string;
  system_prompt: string;
  post_history_instructions: string;
  alternate_greetings: string[];
  character_book?: CharacterBook;
  tags: string[];
  creator: string;
  character_version: string;
  extensions: Record<string, unknown>;
}

export interface CardV2 {
  spec: 'chara_card_v2';
  spec_version: '2.0';
  data: CardData;
}

/** What `cardToCharacter` yields: the fields of a CharacterCreate that a card determines. */
export interface CharacterDraft {
  name: string;
  system_prompt: string;
  greeting: string | null;
  extensions: Record<string, unknown>;
  voice_id: string | null;
}

/** The parts of a stored voice (contracts `Voice`) that cards use. */
export interface VoiceLike {
  id: string;
  name: string;
  engine: string;
  params: Record<string, unknown>;
}

/** The parts of a character (contracts `Character`, or a `CharacterDraft`) that an export uses. */
export interface CharacterLike {
  name: string;
  system_prompt: string;
  greeting?: string | null;
  extensions?: Record<string, unknown> | null;
}

/** Every failure of parsing or writing a card; `message` is fit to show to the user. */
export class CardError extends Error {
  override name = 'CardError';
}

type Json = Record<string, unknown>;
const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
// Some tools write numbers (e.g. character_version: 1); anything else non-string becomes ''.
const str = (x: unknown): string => (typeof x === 'string' ? x : typeof x === 'number' ? String(x) : '');
const strs = (x: unknown): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
const norm = (s: string) => s.replace(/\r\n?/g, '\n').trim();

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b))
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (!isObj(a) || !isObj(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

// ---- base64 (own codec: atob/btoa work on Latin-1 strings and give unhelpful errors) ----

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i] as const).concat([['-', 62], ['_', 63]])); // url-safe too

function base64Encode(bytes: Uint8Array): string {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out.push(B64[(n >> 18) & 63], B64[(n >> 12) & 63], i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=', i + 2 < bytes.length ? B64[n & 63] : '=');
  }
  return out.join('');
}

/** null when `s` is not base64 (whitespace and missing padding are tolerated). */
function base64Decode(s: string): Uint8Array | null {
  const clean = s.replace(/\s+/g, '').replace(/={1,2}$/, '');
  if (clean.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let j = 0;
  for (const ch of clean) {
    const v = B64_INDEX.get(ch);
    if (v === undefined) return null;
    acc = ((acc << 6) | v) & 0x3fff; // at most 13 bits are ever pending
    bits += 6;
    if (bits >= 8) out[j++] = (acc >> (bits -= 8)) & 0xff;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true }); // fatal: report mojibake instead of importing it

// ---- parsing ----

function cardData(src: Json): CardData {
  const name = str(src.name).trim();
  if (!name) throw new CardError('The character card has no name');
  return {
    name,
    description: str(src.description),
    personality: str(src.personality),
    scenario: str(src.scenario),
    first_mes: str(src.first_mes),
    mes_example: str(src.mes_example),
    creator_notes: str(src.creator_notes),
    system_prompt: str(src.system_prompt),
    post_history_instructions: str(src.post_history_instructions),
    alternate_greetings: strs(src.alternate_greetings),
    ...(isObj(src.character_book) ? { character_book: src.character_book as unknown as CharacterBook } : {}),
    tags: strs(src.tags),
    creator: str(src.creator),
    character_version: str(src.character_version),
    extensions: isObj(src.extensions) ? src.extensions : {},
  };
}

function toCard(json: unknown): CardV2 {
  if (!isObj(json)) throw new CardError('Not a character card: expected a JSON object');
  let data: CardData;
  if (json.spec !== undefined) {
    // V3 (`ccv3`) is a superset of V2; its extra fields (assets, nickname, …) are not kept.
    if (json.spec !== 'chara_card_v2' && json.spec !== 'chara_card_v3')
      throw new CardError(`Unsupported character card spec ${JSON.stringify(json.spec)}`);
    if (!isObj(json.data)) throw new CardError('Not a character card: "data" is missing');
    data = cardData(json.data);
  } else if (['personality', 'scenario', 'first_mes', 'mes_example'].some((k) => typeof json[k] === 'string')) {
    data = cardData(json); // V1: the flat fields are the V2 data fields of the same names
  } else {
    throw new CardError('Not a character card: no "spec" and none of the V1 fields (first_mes, personality, …)');
  }
  return { spec: 'chara_card_v2', spec_version: '2.0', data };
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new CardError(`${where} is not valid JSON (${(e as Error).message})`);
  }
}

function pngCardText(png: Uint8Array): string {
  let chunks: Map<string, string>;
  try {
    chunks = readTextChunks(png);
  } catch (e) {
    throw new CardError(`Broken PNG file: ${(e as Error).message}`);
  }
  const raw = chunks.get('chara') ?? chunks.get('ccv3');
  if (raw === undefined) throw new CardError('This PNG has no character card in it (no "chara" or "ccv3" text chunk)');
  const bytes = base64Decode(raw);
  if (!bytes) throw new CardError('The card in this PNG is not valid base64');
  try {
    return utf8.decode(bytes);
  } catch {
    throw new CardError('The card in this PNG is not valid UTF-8 text');
  }
}

/**
 * A card from a JSON string (V2, V3 or V1; V1 is converted) or from file bytes: a PNG card
 * (`chara` chunk, else `ccv3`) or a UTF-8 JSON file. Throws CardError.
 */
export function parseCard(input: string | Uint8Array): CardV2 {
  if (typeof input === 'string') return toCard(parseJson(input, 'The card'));
  if (isPng(input)) return toCard(parseJson(pngCardText(input), 'The card in this PNG'));
  let text = '';
  try {
    text = utf8.decode(input); // strips a UTF-8 BOM
  } catch {
    /* binary, not JSON */
  }
  if (!/^\s*[{[]/.test(text)) throw new CardError('Not a character card file: expected a PNG image or a JSON file');
  return toCard(parseJson(text, 'The file'));
}

// ---- card → character ----

/** Substitutes placeholders (the V1-era `<BOT>`/`<USER>` too); a function replacer so `$` in names stays literal. */
const fill = (text: string, name: string) =>
  text.replace(/\{\{char\}\}|<bot>/gi, () => name).replace(/\{\{user\}\}|<user>/gi, 'the user');

/** The persona as one system prompt (placeholders not yet filled). */
function composePersona(d: CardData): string {
  const t = (s: string) => s.trim();
  return [
    t(d.system_prompt.replace(/\{\{original\}\}/gi, '')), // V2: "{{original}}" = the app's default prompt; we have none
    t(d.description),
    t(d.personality) && `Personality: ${t(d.personality)}`,
    t(d.scenario) && `Scenario: ${t(d.scenario)}`,
  ]
    .filter(Boolean)
    .join('\n\n');
}

/** Card fields kept in `extensions.chorus.card`, for export. */
const KEPT = [
  'description', 'personality', 'scenario', 'system_prompt', 'first_mes', 'mes_example', 'creator_notes',
  'post_history_instructions', 'alternate_greetings', 'tags', 'creator', 'character_version', 'character_book',
] as const;

/**
 * The character a card describes. `voice_id` is a voice of `voices` matching the card's
 * `extensions.chorus.voice` (same id and engine, else same engine and deep-equal params), else null;
 * the description stays in `extensions.chorus.voice` so the UI can offer to create that voice.
 */
export function cardToCharacter(card: CardV2, voices: readonly VoiceLike[] = []): CharacterDraft {
  const d = card.data;
  const name = d.name.trim();
  const system_prompt = fill(composePersona(d), name);
  const extensions: Json = structuredClone(isObj(d.extensions) ? d.extensions : {}); // never alias the card
  const chorus: Json = isObj(extensions.chorus) ? extensions.chorus : {};
  const kept: Json = {};
  for (const k of KEPT) if (d[k] !== undefined) kept[k] = structuredClone(d[k]);
  chorus.card = kept;
  chorus.card_persona = system_prompt;
  extensions.chorus = chorus;

  let voice_id: string | null = null;
  const want = chorus.voice;
  if (isObj(want) && typeof want.engine === 'string') {
    const params = isObj(want.params) ? want.params : {};
    const match =
      voices.find((v) => v.id === want.id && v.engine === want.engine) ??
      voices.find((v) => v.engine === want.engine && deepEqual(v.params ?? {}, params));
    voice_id = match?.id ?? null;
  }
  return { name, system_prompt, greeting: fill(d.first_mes, name).trim() || null, extensions, voice_id };
}

// ---- character → card ----

/**
 * A card for a character. The persona fields of the imported card are restored while the
 * system prompt is unedited, else the system prompt becomes `description`. `voice`: given →
 * written to `extensions.chorus.voice`; null → removed; undefined → the stored one is kept.
 */
export function characterToCard(character: CharacterLike, voice?: VoiceLike | null): CardV2 {
  const name = character.name.trim();
  const extensions: Json = structuredClone(isObj(character.extensions) ? character.extensions : {});
  const chorus: Json | undefined = isObj(extensions.chorus) ? extensions.chorus : undefined;
  const hasCard = isObj(chorus?.card);
  const orig: Json = hasCard ? (chorus!.card as Json) : {};
  const persona = chorus?.card_persona;
  const unedited = hasCard && typeof persona === 'string' && norm(persona) === norm(character.system_prompt);

  if (chorus) {
    delete chorus.card;
    delete chorus.card_persona;
    if (voice === null) delete chorus.voice;
  }
  if (voice) extensions.chorus = { ...chorus, voice: { id: voice.id, name: voice.name, engine: voice.engine, params: structuredClone(voice.params ?? {}) } };
  else if (chorus && Object.keys(chorus).length === 0) delete extensions.chorus; // it only held our bookkeeping

  // The greeting was filled on import: restore the original (with its {{user}} etc.) unless it was edited.
  const greeting = character.greeting ?? '';
  const first_mes = hasCard && norm(fill(str(orig.first_mes), name)) === norm(greeting) ? str(orig.first_mes) : greeting;

  return {
    spec: 'chara_card_v2',
    spec_version: '2.0',
    data: {
      name,
      description: unedited ? str(orig.description) : character.system_prompt,
      personality: unedited ? str(orig.personality) : '',
      scenario: unedited ? str(orig.scenario) : '',
      first_mes,
      mes_example: str(orig.mes_example),
      creator_notes: str(orig.creator_notes),
      system_prompt: unedited ? str(orig.system_prompt) : '',
      post_history_instructions: str(orig.post_history_instructions),
      alternate_greetings: strs(orig.alternate_greetings),
      ...(isObj(orig.character_book) ? { character_book: orig.character_book as unknown as CharacterBook } : {}),
      tags: strs(orig.tags),
      creator: str(orig.creator),
      character_version: str(orig.character_version),
      extensions,
    },
  };
}

// ---- files ----

export const cardToJson = (card: CardV2): string => JSON.stringify(card, null, 2);

/** `png` with the card in its `chara` tEXt chunk (base64 of UTF-8 JSON); a stale `ccv3` chunk is dropped. */
export function cardToPng(card: CardV2, png: Uint8Array): Uint8Array {
  const text = base64Encode(new TextEncoder().encode(JSON.stringify(card)));
  try {
    return withTextChunk(removeTextChunks(png, 'ccv3'), 'chara', text); // readers that prefer ccv3 would show stale data
  } catch (e) {
    throw new CardError(`Cannot write the card into this image: ${(e as Error).message}`);
  }
}

/** A file name safe on every OS, from the character's name: `cardFileName(card, 'png')` → `Zoë.png`. */
export function cardFileName(card: CardV2, ext: string): string {
  const cleaned = card.data.name
    .normalize('NFC')
    .replace(/[\x00-\x1f\x7f<>:"/\\|?*]+/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(/^[\s.]+|[\s.]+$/g, '');
  let base = Array.from(cleaned).slice(0, 80).join('').trim(); // by code point: never split a surrogate pair
  if (!base) base = 'character';
  if (/^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i.test(base)) base = `_${base}`; // reserved device names on Windows
  return `${base}.${ext.replace(/^\.+/, '')}`;
}
