/**
 * English number words: cardinals, ordinals, years, digit strings, decimals.
 * There is no built-in number-to-words (Intl only formats digits), so this is a compact one.
 * Everything works on digit strings, so large values never go through floating point.
 */

const ONES = [
  'zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten',
  'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const SCALES = ['', 'thousand', 'million', 'billion', 'trillion', 'quadrillion'];
/** Longest integer read as a cardinal (below 10^18); longer ones are read digit by digit. */
const MAX_CARDINAL_DIGITS = SCALES.length * 3;

function below100(n: number): string {
  if (n < 20) return ONES[n]!;
  const rest = n % 10;
  return TENS[Math.floor(n / 10)]! + (rest ? `-${ONES[rest]}` : '');
}

function below1000(n: number): string {
  const hundreds = Math.floor(n / 100);
  const rest = n % 100;
  if (!hundreds) return below100(rest);
  return `${ONES[hundreds]} hundred` + (rest ? ` ${below100(rest)}` : '');
}

/** "7" → "seven", "0042" → "zero zero four two" (each digit). */
export function digitWords(digits: string): string {
  return [...digits].filter((d) => d >= '0' && d <= '9').map((d) => ONES[Number(d)]).join(' ');
}

/** Cardinal of an unsigned digit string: "1234" → "one thousand two hundred thirty-four". */
export function cardinalWords(digits: string): string {
  const clean = digits.replace(/^0+(?=\d)/, '');
  if (!/^\d+$/.test(clean)) throw new RangeError(`not a digit string: ${digits}`);
  if (clean.length > MAX_CARDINAL_DIGITS) return digitWords(clean);
  if (clean === '0') return 'zero';
  const parts: string[] = [];
  // Groups of three from the right: index 0 is units, 1 thousands, …
  for (let end = clean.length, scale = 0; end > 0; end -= 3, scale++) {
    const group = Number(clean.slice(Math.max(0, end - 3), end));
    if (group) parts.unshift(below1000(group) + (SCALES[scale] ? ` ${SCALES[scale]}` : ''));
  }
  return parts.join(' ');
}

const ORDINAL_IRREGULAR: Record<string, string> = {
  one: 'first', two: 'second', three: 'third', five: 'fifth', eight: 'eighth', nine: 'ninth', twelve: 'twelfth',
};

/** Turns the last word of a cardinal into its ordinal: "twenty-one" → "twenty-first". */
export function ordinalOf(words: string): string {
  const m = /([a-z]+)$/.exec(words);
  if (!m) return words;
  const last = m[1]!;
  const ord = ORDINAL_IRREGULAR[last] ?? (last.endsWith('y') ? `${last.slice(0, -1)}ieth` : `${last}th`);
  return words.slice(0, m.index) + ord;
}

export function ordinalWords(digits: string): string {
  return ordinalOf(cardinalWords(digits));
}

/** Plural of the last word, for decades and fractions: "ninety" → "nineties", "third" → "thirds", "half" → "halves". */
export function pluralOf(words: string): string {
  if (words.endsWith('half')) return `${words.slice(0, -4)}halves`;
  if (words.endsWith('y')) return `${words.slice(0, -1)}ies`;
  if (words.endsWith('x') || words.endsWith('s')) return `${words}es`;
  return `${words}s`;
}

/** A year the way it is said: 1999 → "nineteen ninety-nine", 2000 → "two thousand", 2005 → "two thousand five",
 *  1905 → "nineteen oh five", 1900 → "nineteen hundred", 2024 → "twenty twenty-four". */
export function yearWords(year: number): string {
  if (!Number.isInteger(year) || year < 1000 || year > 9999) return cardinalWords(String(Math.abs(Math.trunc(year))));
  const hi = Math.floor(year / 100);
  const lo = year % 100;
  if (year >= 2000 && year < 2010) return cardinalWords(String(year));
  if (lo === 0) return hi % 10 === 0 ? cardinalWords(String(year)) : `${below100(hi)} hundred`;
  return `${below100(hi)} ${lo < 10 ? `oh ${ONES[lo]}` : below100(lo)}`;
}

/**
 * A plain numeric token: optional sign, thousands separators, decimals, versions.
 * "12,500" → "twelve thousand five hundred", "-3.14" → "minus three point one four",
 * "1.2.3" → "one point two point three", ".5" → "point five".
 */
export function numberWords(token: string): string {
  let s = token.trim();
  let sign = '';
  if (/^[-−]/.test(s)) {
    sign = 'minus ';
    s = s.slice(1);
  } else if (s.startsWith('+')) {
    sign = 'plus ';
    s = s.slice(1);
  }
  if (/^\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  const parts = s.split('.');
  if (parts.length > 2) return sign + parts.map((p) => (p ? cardinalWords(p) : '')).filter(Boolean).join(' point ');
  const [int = '', frac] = parts;
  const intWords = int ? cardinalWords(int) : '';
  if (frac === undefined || frac === '') return sign + intWords;
  return sign + [intWords, 'point', digitWords(frac)].filter(Boolean).join(' ');
}

const pluralRules = new Map<number, Intl.PluralRules>();

/** Whether a numeric token takes a singular noun, by CLDR's English rules (Intl.PluralRules), which see the
 *  written fraction digits: "1" → true, "1.0" and "1.5" → false ("1.0 kilometers"). */
export function isSingular(token: string): boolean {
  const s = token.trim().replace(/,/g, '');
  if (!/^[-+−]?\d*\.?\d+$/.test(s)) return false;
  const fractionDigits = s.includes('.') ? s.length - s.indexOf('.') - 1 : 0;
  let rules = pluralRules.get(fractionDigits);
  if (!rules) {
    rules = new Intl.PluralRules('en', { minimumFractionDigits: fractionDigits });
    pluralRules.set(fractionDigits, rules);
  }
  return rules.select(Math.abs(Number(s.replace('−', '-')))) === 'one';
}
