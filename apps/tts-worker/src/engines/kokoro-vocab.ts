/**
 * Text → Kokoro token ids: espeak-ng IPA (the `phonemizer` package), post-processed the way kokoro-js does, then
 * mapped through Kokoro-82M v1.0's symbol vocabulary. Pure functions; where espeak runs is the caller's choice.
 */

/** Kokoro-82M v1.0 vocabulary (config.json / onnx-community tokenizer.json): one symbol → id. Id 0 is padding. */
const VOCAB_ENTRIES: Array<[string, number]> = [
  [';', 1], [':', 2], [',', 3], ['.', 4], ['!', 5], ['?', 6], ['—', 9], ['…', 10], ['"', 11], ['(', 12], [')', 13],
  ['“', 14], ['”', 15], [' ', 16], ['\u0303', 17], ['ʣ', 18], ['ʥ', 19], ['ʦ', 20], ['ʨ', 21], ['ᵝ', 22],
  ['\uAB67', 23], ['A', 24], ['I', 25], ['O', 31], ['Q', 33], ['S', 35], ['T', 36], ['W', 39], ['Y', 41], ['ᵊ', 42],
  ['a', 43], ['b', 44], ['c', 45], ['d', 46], ['e', 47], ['f', 48], ['h', 50], ['i', 51], ['j', 52], ['k', 53],
  ['l', 54], ['m', 55], ['n', 56], ['o', 57], ['p', 58], ['q', 59], ['r', 60], ['s', 61], ['t', 62], ['u', 63],
  ['v', 64], ['w', 65], ['x', 66], ['y', 67], ['z', 68], ['ɑ', 69], ['ɐ', 70], ['ɒ', 71], ['æ', 72], ['β', 75],
  ['ɔ', 76], ['ɕ', 77], ['ç', 78], ['ɖ', 80], ['ð', 81], ['ʤ', 82], ['ə', 83], ['ɚ', 85], ['ɛ', 86], ['ɜ', 87],
  ['ɟ', 90], ['ɡ', 92], ['ɥ', 99], ['ɨ', 101], ['ɪ', 102], ['ʝ', 103], ['ɯ', 110], ['ɰ', 111], ['ŋ', 112],
  ['ɳ', 113], ['ɲ', 114], ['ɴ', 115], ['ø', 116], ['ɸ', 118], ['θ', 119], ['œ', 120], ['ɹ', 123], ['ɾ', 125],
  ['ɻ', 126], ['ʁ', 128], ['ɽ', 129], ['ʂ', 130], ['ʃ', 131], ['ʈ', 132], ['ʧ', 133], ['ʊ', 135], ['ʋ', 136],
  ['ʌ', 138], ['ɣ', 139], ['ɤ', 140], ['χ', 142], ['ʎ', 143], ['ʒ', 147], ['ʔ', 148], ['ˈ', 156], ['ˌ', 157],
  ['ː', 158], ['ʰ', 162], ['ʲ', 164], ['↓', 169], ['→', 171], ['↗', 172], ['↘', 173], ['ᵻ', 177],
];

export const KOKORO_VOCAB: ReadonlyMap<string, number> = new Map(VOCAB_ENTRIES);
export const KOKORO_PAD_ID = 0;
/** Phoneme tokens per inference; the context is 512 with the two pads. */
export const KOKORO_MAX_TOKENS = 510;

export type KokoroLang = 'en-us' | 'en';
/** espeak-ng text → IPA lines (the `phonemizer` package's `phonemize` signature). */
export type Espeak = (text: string, lang: KokoroLang) => Promise<string[]>;

/** Phoneme string → token ids (no pads); symbols outside the vocabulary are dropped. */
export function tokenize(phonemes: string): number[] {
  const ids: number[] = [];
  for (const symbol of phonemes) {
    const id = KOKORO_VOCAB.get(symbol);
    if (id !== undefined) ids.push(id);
  }
  return ids;
}

/** Light clean-up before espeak (the worker's speech-text step already removed markup). */
export function normalizeText(text: string): string {
  return text
    .replace(/[‘’]/g, "'")
    .replace(/[«»“”]/g, '"')
    .replace(/\(/g, '«')
    .replace(/\)/g, '»')
    .replace(/\bD[Rr]\.(?= [A-Z])/g, 'Doctor')
    .replace(/\b(?:Mr\.|MR\.(?= [A-Z]))/g, 'Mister')
    .replace(/\b(?:Ms\.|MS\.(?= [A-Z]))/g, 'Miss')
    .replace(/\b(?:Mrs\.|MRS\.(?= [A-Z]))/g, 'Mrs')
    .replace(/\s+/g, ' ')
    .trim();
}

// espeak drops punctuation, but Kokoro uses it for prosody: phonemize the text between punctuation runs and keep
// the runs as they are.
const PUNCTUATION_RUN = /(\s*[;:,.!?¡¿—…"«»“”(){}[\]]+\s*)+/g;

/** Text → Kokoro phoneme string (IPA with Kokoro's stress marks and punctuation). */
export async function phonemizeForKokoro(text: string, lang: KokoroLang, espeak: Espeak = inThreadEspeak): Promise<string> {
  const normalized = normalizeText(text);
  const parts: Array<{ punct: boolean; text: string }> = [];
  let at = 0;
  for (const m of normalized.matchAll(PUNCTUATION_RUN)) {
    if (m.index > at) parts.push({ punct: false, text: normalized.slice(at, m.index) });
    parts.push({ punct: true, text: m[0] });
    at = m.index + m[0].length;
  }
  if (at < normalized.length) parts.push({ punct: false, text: normalized.slice(at) });

  const phonemized = await Promise.all(
    parts.map(async (p) => (p.punct ? p.text : (await espeak(p.text, lang)).join(' '))),
  );
  let ps = phonemized
    .join('')
    // espeak symbols Kokoro was not trained on → its nearest vocabulary symbol
    .replace(/ʲ/g, 'j')
    .replace(/r/g, 'ɹ')
    .replace(/x/g, 'k')
    .replace(/ɬ/g, 'l')
    .replace(/(?<=[a-zɹː])(?=hˈʌndɹɪd)/g, ' ')
    .replace(/ z(?=[;:,.!?¡¿—…"«»“” ]|$)/g, 'z');
  // American flapped t in "ninety" etc.
  if (lang === 'en-us') ps = ps.replace(/(?<=nˈaɪn)ti(?!ː)/g, 'di');
  return ps.trim();
}

const SENTENCE_END = new Set(['.', '!', '?', '…']);
const CLAUSE_END = new Set([',', ';', ':', '—']);

/**
 * Splits a phoneme string into pieces of at most `max` symbols, cutting after the last sentence end that fits,
 * else the last clause mark, else the last space, else hard. Symbols ≥ tokens, so each piece fits the model.
 */
export function splitPhonemes(phonemes: string, max = KOKORO_MAX_TOKENS): string[] {
  const pieces: string[] = [];
  let rest = [...phonemes.trim()];
  while (rest.length > max) {
    let cut = -1;
    for (const marks of [SENTENCE_END, CLAUSE_END, new Set([' '])]) {
      for (let i = max - 1; i > 0 && cut < 0; i--) if (marks.has(rest[i])) cut = i + 1;
      if (cut > 0) break;
    }
    if (cut <= 0) cut = max;
    const piece = rest.slice(0, cut).join('').trim();
    if (piece) pieces.push(piece);
    rest = [...rest.slice(cut).join('').trim()];
  }
  const last = rest.join('');
  if (last) pieces.push(last);
  return pieces;
}

let phonemizerModule: Promise<typeof import('phonemizer')> | undefined;

/** espeak on the calling thread: blocks it for tens of ms per call (the engine runs espeak in a worker instead). */
export const inThreadEspeak: Espeak = async (text, lang) => {
  phonemizerModule ??= import('phonemizer');
  return (await phonemizerModule).phonemize(text, lang);
};
