/**
 * Text → speakable text. The sentence splitter hands the worker one sentence at a time; this turns it
 * into words an engine reads correctly: markup, emoji and stage directions out; URLs, numbers, symbols,
 * abbreviations and acronyms into words. Returns '' when nothing is left to say (the worker skips synthesis).
 *
 * The output holds only letters, ASCII digits (normally none), `. , ? ! ' : ; -` and single spaces, and
 * toSpeechText(toSpeechText(x)) === toSpeechText(x). English readings throughout.
 */
import { expandAbbreviations, speakAcronyms } from './speech-text/abbreviations.js';
import { removeEmoji } from './speech-text/emoji.js';
import { decodeEntities, stripBlocks, stripCode, stripInlineMarkup, unwrapEmphasis } from './speech-text/markdown.js';
import { expandNumbers } from './speech-text/numeric.js';
import { handleStageDirections } from './speech-text/stage-directions.js';
import { expandSymbols, finalizeText, normalizeCharacters, prepareCharacters } from './speech-text/symbols.js';
import { speakWeb } from './speech-text/web.js';

export { foldToAscii } from './speech-text/ascii.js';

export interface SpeechTextOptions {
  /** `*smiles*`, `(laughs)`, `[sighs]`: dropped ('skip', the default) or read as plain words ('speak'). */
  stageDirections: 'skip' | 'speak';
}

/** Extra passes at most; ordinary text settles after the first (checked), pathological input within two. */
const MAX_EXTRA_PASSES = 3;

export function toSpeechText(text: string, options: Partial<SpeechTextOptions> = {}): string {
  const mode = options.stageDirections ?? 'skip';
  // Rules are written so one pass is final for ordinary text; odd inputs (symbols glued to words) can
  // expose a new match once their neighbours are gone, so passes repeat until nothing changes.
  let out = speechPass(text, mode);
  for (let i = 0; i < MAX_EXTRA_PASSES; i++) {
    const again = speechPass(out, mode);
    if (again === out) break;
    out = again;
  }
  return out;
}

function speechPass(text: string, mode: SpeechTextOptions['stageDirections']): string {
  let s = text.replace(/\r\n?/g, '\n');
  s = decodeEntities(s);
  s = removeEmoji(s); // before NFKC, which turns "™" into "TM"
  s = prepareCharacters(s);
  s = s.normalize('NFKC'); // full-width forms, ligatures, "…", "℃", NBSP → plain characters
  s = normalizeCharacters(s);
  s = stripCode(s); // code first: its content must not be read as markup
  s = stripInlineMarkup(s);
  s = speakWeb(s); // URLs hold "_", "*", "#" and digits that later rules would misread
  s = stripBlocks(s); // from here on, one line
  s = unwrapEmphasis(s);
  s = handleStageDirections(s, mode);
  s = expandSymbols(s);
  s = expandAbbreviations(s); // "No. 5", "a.m." before numbers
  s = expandNumbers(s); // "5 GB" before acronyms
  s = speakAcronyms(s);
  return finalizeText(s);
}
