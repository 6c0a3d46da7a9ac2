/**
 * Abbreviations read as words ("Dr." → "Doctor") and capitalised acronyms: spelled ("FBI" → "F B I")
 * unless they are said as a word ("NASA") or are ordinary words written in capitals ("NO WAY").
 */
import { cardinalWords } from './numbers.js';

/** Titles before a name (case-sensitive). */
const TITLES: Record<string, string> = {
  Mr: 'Mister', Mrs: 'Missus', Ms: 'Miz', Prof: 'Professor', Mt: 'Mount', Capt: 'Captain', Sgt: 'Sergeant',
  Lt: 'Lieutenant', Rev: 'Reverend', Hon: 'Honorable',
};
/** Abbreviations after a name, always with their dot. */
const AFTER_NAME: Record<string, string> = {
  Jr: 'Junior', Sr: 'Senior', Ave: 'Avenue', Blvd: 'Boulevard', Rd: 'Road', Inc: 'Incorporated', Ltd: 'Limited',
};
/** [pattern, words, whether the dot may end a sentence]. */
const LATIN: Array<[RegExp, string, boolean]> = [
  [/(?<![\p{L}.])e\.\s?g\.(?!\p{L})/giu, 'for example', false],
  [/(?<![\p{L}.])i\.\s?e\.(?!\p{L})/giu, 'that is', false],
  [/\betc\.?(?!\p{L})/giu, 'et cetera', true],
  [/\b[vV]s\.?(?!\p{L})/gu, 'versus', false],
  [/\bapprox\.?(?!\p{L})/giu, 'approximately', false],
  [/\bcf\.(?!\p{L})/giu, 'compare', false],
  [/\bw\/o(?!\p{L})/giu, 'without', false],
  [/\bw\/(?=\s)/giu, 'with', false],
];
const MONTHS: Record<string, string> = {
  Jan: 'January', Feb: 'February', Mar: 'March', Apr: 'April', Jun: 'June', Jul: 'July', Aug: 'August',
  Sep: 'September', Sept: 'September', Oct: 'October', Nov: 'November', Dec: 'December',
};

/** The abbreviation's dot ended the sentence when nothing, or a new sentence, follows. */
function keepsDot(after: string): boolean {
  return /^\s*$/.test(after) || /^\s+["'“‘(]*\p{Lu}/u.test(after);
}

/** "The Dr.", "my St." : a capitalised determiner is no street name. */
const DETERMINER = /(?:^|[^\p{L}])(?:The|A|An|My|Your|Our|His|Her|Their|This|That)\s+$/u;

/** The word before `offset` is a capitalised word that does not start its sentence ("Baker" in "on Baker St."),
 *  or a number ("5th St."): a street or a drive follows names and numbers. */
function afterNameOrNumber(before: string): boolean {
  if (/\d(?:st|nd|rd|th)?\s+$/i.test(before)) return true;
  if (DETERMINER.test(before)) return false;
  const m = /(\p{Lu}\p{Ll}+)\s+$/u.exec(before);
  if (!m) return false;
  return !/(?:^|[.!?]["'”’)]*)\s*$/u.test(before.slice(0, m.index));
}

export function expandAbbreviations(s: string): string {
  let out = s;
  for (const [re, word, mayEnd] of LATIN) {
    out = out.replace(re, (all, offset: number, whole: string) => {
      const after = whole.slice(offset + all.length);
      return word + (all.endsWith('.') && (mayEnd ? keepsDot(after) : /^\s*$/.test(after)) ? '.' : '');
    });
  }
  // With a dot a title is certain ("Mr. & Mrs. Jones"); without one it needs a name after it.
  out = out.replace(/\b(Mr|Mrs|Ms|Prof|Mt|Capt|Sgt|Lt|Rev|Hon)(?:\.(?=\s)|(?=\s+\p{Lu}))/gu, (_all, t: string) => TITLES[t]!);
  out = out.replace(/\b(Jr|Sr|Ave|Blvd|Rd|Inc|Ltd)\.(?!\p{L})/gu, (_all, t: string, offset: number, whole: string) =>
    AFTER_NAME[t]! + (keepsDot(whole.slice(offset + t.length + 1)) ? '.' : ''),
  );
  // St.: Saint before a name, Street after one. Dr.: Doctor, unless it follows a name and no name follows.
  out = out.replace(/\b(St|Dr)\.?(?![\p{L}\p{N}])/gu, (all, t: string, offset: number, whole: string) => {
    const before = whole.slice(0, offset);
    const after = whole.slice(offset + all.length);
    const beforeName = /^\s+\p{Lu}/u.test(after);
    const afterWord = /(?:\p{Lu}\p{Ll}+|\d(?:st|nd|rd|th|ST|ND|RD|TH)?)\s+$/u.test(before) && !DETERMINER.test(before);
    const place = t === 'St' ? !beforeName || afterNameOrNumber(before) : afterWord && !beforeName;
    const word = place ? (t === 'St' ? 'Street' : 'Drive') : t === 'St' ? 'Saint' : 'Doctor';
    return word + (all.endsWith('.') && (place || !beforeName) && keepsDot(after) ? '.' : '');
  });
  out = out.replace(/\bNo\.\s?(?=\d)/g, 'number ');
  out = out.replace(/\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?(?=\s+\d)/g, (_all, m: string) => MONTHS[m]!);
  out = out.replace(/\b([aApP])\.\s?([mM])\.(?=(\s*)(.?))/g, (_all, ap: string, m: string, _sp: string, next: string) =>
    `${ap.toLowerCase()} ${m.toLowerCase()}${next === '' || /\p{Lu}/u.test(next) ? '.' : ''}`,
  );
  // Initialisms with dots: "U.S.A." → "U S A"; an initial before a name loses its dot ("J. R. R. Tolkien").
  out = out.replace(/(?<![\p{L}\p{N}])((?:\p{Lu}\.){2,})(?=(\s*)(.?))/gu, (_all, letters: string, _sp: string, next: string) =>
    letters.replace(/\./g, ' ').trim() + (next === '' ? '.' : ''),
  );
  out = out.replace(/(?<![\p{L}\p{N}])(\p{Lu})\.(?=\s+\p{Lu}\p{L}*)/gu, '$1');
  return out;
}

/** Said as words, not letters (capitalised so engines read them as names). */
const PRONOUNCED = new Set(
  ('NASA NATO RADAR LASER SCUBA FIFA UEFA OPEC AIDS COVID SARS GIF JPEG PIN SIM RAM ROM IKEA UNIX SWAT TASER ' +
    'SONAR YOLO FOMO NIMBY POTUS ASAP MIDI WIKI DOS ZIP LEGO NASDAQ EMOJI').split(' '),
);
/** Everyday words in capitals are shouting, not acronyms. */
const WORDS = new Set(
  (
    'AH AM AN AND ANY ARE AS AT AW AWW BE BIG BUT BY CAN DID DO GO GOD GOT HA HAD HAS HE HER HEY HI HIM HIS ' +
    'HOW IF IN IS IT ITS LET ME MY NO NOT NOW OF OFF OH ON ONE OR OUR OUT OWN SAY SEE SHE SO THE TO TOO TWO UH UM ' +
    'UP WAS WAY WE WHO WHY WOW YAY YES YET YOU ALL BAD FOR GET NEW OLD RUN TRY USE BOO EEK HUH HMM UGH AHH OOH ' +
    'ALSO AWAY BACK BEEN BEST COME COOL DEAD DOES DONE DOWN EACH EVEN EVER FAST FINE FROM GOOD HATE HAVE HELP ' +
    'HERE HIGH HOME JUST KEEP KIND KNOW LAST LIKE LOVE MAKE MANY MORE MOST MUCH MUST NEED NICE ONLY OVER REAL ' +
    'SAME SOME STOP SUCH SURE TAKE THAN THAT THEM THEN THEY THIS TIME VERY WAIT WANT WELL WENT WERE WHAT WHEN ' +
    'WILL WITH WORK YEAH YOUR OKAY NOPE OOPS DUDE LIFE GIRL BOYS TRUE ABOUT AFTER AGAIN ALONE CRAZY EVERY ' +
    'GREAT HAPPY HELLO NEVER RIGHT SORRY STILL SUPER THANK THEIR THERE THESE THING THINK THOSE TODAY WHERE ' +
    'WHICH WHILE WORLD WOULD WRONG YIKES DAMN HELL FUN'
  ).split(' '),
);
function romanValue(r: string): number {
  const v: Record<string, number> = { I: 1, V: 5, X: 10 };
  let total = 0;
  for (let i = 0; i < r.length; i++) {
    const cur = v[r[i]!]!;
    total += cur < (v[r[i + 1] ?? ''] ?? 0) ? -cur : cur;
  }
  return total;
}

function spell(word: string): string {
  return [...word].join(' ');
}

function acronym(word: string): string {
  if (PRONOUNCED.has(word)) return word[0] + word.slice(1).toLowerCase();
  if (WORDS.has(word) || word.length > 5) return word.toLowerCase();
  return spell(word);
}

export function speakAcronyms(s: string): string {
  return (
    s
      // Shouted contractions ("DON'T", "I'M") are words.
      .replace(/(?<![\p{L}\p{N}])\p{Lu}+(?:'\p{Lu}+)+(?![\p{L}\p{N}])/gu, (w) => w.toLowerCase().replace(/^i'/, "I'"))
      // Roman numerals after a name: "World War II" → "World War two", "Part IV" → "Part four".
      .replace(/(?<=\p{Lu}\p{Ll}+\s+)(?=[IVX]{2})X{0,3}(?:IX|IV|V?I{0,3})(?![\p{L}\p{N}])/gu, (r: string) =>
        cardinalWords(String(romanValue(r))),
      )
      // "ChatGPT" → "Chat G P T": a capital run at the end of a mixed-case word.
      .replace(/(?<=\p{Ll})(\p{Lu}{2,5})(?=s?(?![\p{L}\p{N}]))/gu, (run: string) => ` ${spell(run)}`)
      // "APIs" → "A P I's" (the 's' makes it a plural, not a letter).
      .replace(/(?<![\p{L}\p{N}'])(\p{Lu}{2,5})s(?![\p{L}\p{N}'])/gu, (_all, w: string) =>
        PRONOUNCED.has(w) ? `${acronym(w)}s` : `${spell(w)}'s`,
      )
      .replace(/(?<![\p{L}\p{N}'])\p{Lu}{2,}(?![\p{L}\p{N}])/gu, acronym)
  );
}
