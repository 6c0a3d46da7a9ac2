/**
 * Characters: the clean-up around NFKC, symbols read as words, and the final filter that leaves only
 * letters, ASCII digits, `. , ? ! ' : ; -` and single spaces — nothing an engine could choke on.
 */

const VULGAR_FRACTION = /(\d)?\s?([¼½¾⅐⅑⅒⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞])/gu;

/** Before NFKC, which would turn "1½" into "11⁄2" and "m²" into "m2". */
export function prepareCharacters(s: string): string {
  return s
    .replace(VULGAR_FRACTION, (_all, whole: string | undefined, frac: string) =>
      `${whole ? `${whole} and ` : ' '}${frac.normalize('NFKC').replace('⁄', '/')} `,
    )
    .replace(/²/g, '^2')
    .replace(/³/g, '^3')
    .replace(/[⁰¹⁴-⁹]+/g, ' ') // footnote marks
    .replace(/№\s?/g, 'number ');
}

/** After NFKC: invisible characters go, quotes and dashes take one form each. */
export function normalizeCharacters(s: string): string {
  return s
    .replace(/[\u200B-\u200F\u2060-\u2064\uFEFF\u00AD\u034F]/g, '')
    .replace(/[\u2028\u2029\u0085]/g, '\n')
    .replace(/[^\S\n]/g, ' ') // every other space, tabs included
    .replace(/[\p{Cc}\p{Co}\p{Cs}\p{Cn}]/gu, (c) => (c === '\n' ? c : ' '))
    .replace(/[‘’‚‛ʼ]/g, "'")
    .replace(/[“”„‟«»″]/g, '"')
    .replace(/[‐‑‒−]/g, '-')
    .replace(/[—―]/g, '—')
    .replace(/[⁄∕]/g, '/')
    // Anything no rule reads and the final filter would drop goes now, so every rule sees the neighbours
    // the output will have (otherwise a second pass could find new matches: not idempotent).
    .replace(/[^\p{L}\p{M}0-9\s!-/:-@[-`{-~°€£¥₹×÷±≈→⇒⟶←↑↓↔⇐⟵—–•‣◦▪]/gu, ' ');
}

/** Symbols that read as words whatever the numbers around them; runs before numbers are expanded. */
export function expandSymbols(s: string): string {
  return s
    // "AT&T", "R&D": letters on both sides are spelled, so "AT" is not read as the word "at".
    .replace(/(?<![\p{L}\p{N}])(\p{Lu}{1,3})&(\p{Lu}{1,3})(?![\p{L}\p{N}])/gu, (_all, a: string, b: string) =>
      ` ${[...a].join(' ')} and ${[...b].join(' ')} `,
    )
    .replace(/\s*&\s*/g, ' and ')
    .replace(/\s*(?:->|=>|→|⇒|⟶)\s*/g, ' to ')
    .replace(/[←↑↓↔⇐⟵]/g, ' ')
    .replace(/(?<![\p{L}\p{N}])~\s?(?=[-$€£¥₹]?\.?\d)/gu, 'about ')
    .replace(/\s*≈\s*/g, ' about ')
    .replace(/\s*±\s*/g, ' plus or minus ')
    .replace(/\b([A-Za-z])\+\+(?![\p{L}\p{N}])/gu, '$1 plus plus')
    .replace(/\b([CF])#(?![\p{L}\p{N}])/gu, '$1 sharp');
}

/** The strongest mark of a run of punctuation: "?!" → "?", ". ," → ".". */
function strongest(run: string): string {
  for (const p of ['?', '!', '.', ';', ':', ',']) if (run.includes(p)) return p;
  return ',';
}

/** Symbols left after the rules above, pauses, and the character whitelist. */
export function finalizeText(input: string): string {
  let s = input
    // Ellipses are pauses: a comma inside a sentence, a period before a new one, nothing at the start.
    .replace(/^\s*\.{2,}/, '')
    .replace(/\s*\.{2,}\s*(?=(\S?))/gu, (_all, next: string) => (!next ? '.' : /\p{Ll}/u.test(next) ? ', ' : '. '))
    .replace(/\s*[—–]\s*|\s+-{1,2}\s+|--+/g, ', ')
    .replace(/(\p{L})\s?\/\s?(?=\p{L})/gu, (_all, a: string, offset: number, whole: string) =>
      // "and/or" is said "and or"; "yes/no" → "yes or no".
      /(?:^|[^\p{L}])and$/iu.test(whole.slice(Math.max(0, offset - 3), offset + 1)) ? `${a} ` : `${a} or `,
    )
    .replace(/\s*=+\s*/g, ' equals ')
    .replace(/\s*\+\s*/g, ' plus ')
    .replace(/\s*%/g, ' percent ')
    .replace(/@/g, ' at ')
    .replace(/°/g, ' degrees ')
    .replace(/×/g, ' times ')
    .replace(/\|/g, ', ')
    .replace(/_/g, ' ');
  // The whitelist: letters (with their marks), ASCII digits, basic punctuation, spaces.
  s = s.replace(/[^\p{L}\p{M}0-9.,?!':;\- ]/gu, ' ');
  // Apostrophes only inside words ("it's", "o'clock") or ending a plural ("dogs'"); quotes otherwise.
  s = s.replace(/'/g, (_q, offset: number, whole: string) => {
    const prev = whole[offset - 1] ?? '';
    const next = whole[offset + 1] ?? '';
    const letter = (c: string): boolean => /[\p{L}\p{M}]/u.test(c);
    return (letter(prev) && letter(next)) || (/[sS]/.test(prev) && !letter(next) && letter(whole[offset - 2] ?? '')) ? "'" : ' ';
  });
  // Hyphens only between word characters ("twenty-one", "well-known").
  s = s.replace(/-/g, (_h, offset: number, whole: string) =>
    /[\p{L}\p{M}\p{N}]/u.test(whole[offset - 1] ?? '') && /[\p{L}\p{N}]/u.test(whole[offset + 1] ?? '') ? '-' : ' ',
  );
  s = s
    .replace(/\s+/g, ' ')
    .replace(/\s+(?=[.,?!:;])/g, '')
    .replace(/[.,?!:;](?:\s*[.,?!:;])+/g, strongest)
    .replace(/([,;:!?])(?=[\p{L}\p{N}])/gu, '$1 ')
    .replace(/^[\s.,?!:;]+/, '')
    .replace(/[\s,;:]+$/, '')
    .trim();
  return /[\p{L}\p{N}]/u.test(s) ? s : '';
}
