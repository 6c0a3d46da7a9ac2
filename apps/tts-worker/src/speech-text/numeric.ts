/**
 * Numbers in context, read as they are said: dates, phone numbers, times, money, percentages,
 * temperatures, units, ordinals, decades, fractions, ranges, a little arithmetic, years, and plain numbers.
 * Rules run from the most specific pattern to the most general; each replaces its digits with words,
 * so a later rule never sees them again.
 */
import {
  cardinalWords, digitWords, isSingular, numberWords, ordinalOf, ordinalWords, pluralOf, yearWords,
} from './numbers.js';

/** A number as written: "12,500.5", "3.14", "42", ".5". */
const NUM = String.raw`(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)`;
/** Not inside another number or word. */
const START = String.raw`(?<![\p{L}\p{N}.,]|\d[.,])`;
/** Not followed by more of a number. */
const END = String.raw`(?!\d|[.,]\d)`;
/** An optional sign that belongs to the number: "-5", but not "COVID-19" or "5-10". */
const SIGN = String.raw`(?:(?<![\p{L}\p{N}\-])([-−]))?`;

const monthName = (() => {
  const fmt = new Intl.DateTimeFormat('en', { month: 'long', timeZone: 'UTC' });
  return (month: number): string => fmt.format(Date.UTC(2000, month - 1, 1));
})();

/** "05" → "oh five", "99" → "ninety-nine": a two-digit year. */
function twoDigitYear(yy: string): string {
  return yy.startsWith('0') ? `oh ${cardinalWords(yy)}` : cardinalWords(yy);
}

function dateWords(month: number, day: number, year: string): string | null {
  if (month < 1 || month > 12 || day < 1 || day > 31) return null;
  const y = year.length === 4 ? yearWords(Number(year)) : twoDigitYear(year);
  return `${monthName(month)} ${ordinalWords(String(day))}, ${y}`;
}

/** A bare number: years 1900–2099 as years, everything else as a cardinal or decimal. */
function bare(token: string): string {
  if (/^\d{4}$/.test(token) && Number(token) >= 1900 && Number(token) <= 2099) return yearWords(Number(token));
  return numberWords(token);
}

function signed(sign: string | undefined, token: string): string {
  return (sign ? 'minus ' : '') + numberWords(token);
}

/** A dot that ended the sentence stays when an abbreviation swallowed it ("3 p.m." at the end). */
function sentenceDot(abbrev: string, after: string): string {
  return abbrev.endsWith('.') && (/^\s*$/.test(after) || /^\s+\p{Lu}/u.test(after)) ? '.' : '';
}

interface Currency { one: string; many: string; centOne?: string; centMany?: string }
const CURRENCIES: Record<string, Currency> = {
  $: { one: 'dollar', many: 'dollars', centOne: 'cent', centMany: 'cents' },
  USD: { one: 'dollar', many: 'dollars', centOne: 'cent', centMany: 'cents' },
  '€': { one: 'euro', many: 'euros', centOne: 'cent', centMany: 'cents' },
  EUR: { one: 'euro', many: 'euros', centOne: 'cent', centMany: 'cents' },
  '£': { one: 'pound', many: 'pounds', centOne: 'penny', centMany: 'pence' },
  GBP: { one: 'pound', many: 'pounds', centOne: 'penny', centMany: 'pence' },
  '¥': { one: 'yen', many: 'yen' },
  JPY: { one: 'yen', many: 'yen' },
  '₹': { one: 'rupee', many: 'rupees' },
};
const SCALE_WORDS: Record<string, string> = {
  k: 'thousand', K: 'thousand', thousand: 'thousand', m: 'million', M: 'million', mn: 'million', million: 'million',
  b: 'billion', B: 'billion', bn: 'billion', billion: 'billion', tn: 'trillion', trillion: 'trillion',
};

function money(sign: string | undefined, amount: string, scale: string | undefined, cur: Currency): string {
  const minus = sign ? 'minus ' : '';
  if (scale) return `${minus}${numberWords(amount)} ${SCALE_WORDS[scale]} ${cur.many}`;
  const cents = /^(.*)\.(\d\d)$/.exec(amount);
  if (cents && cur.centMany) {
    const whole = cents[1]!.replace(/,/g, '') || '0';
    const c = Number(cents[2]);
    const wholePart = `${cardinalWords(whole)} ${Number(whole) === 1 ? cur.one : cur.many}`;
    const centPart = `${cardinalWords(String(c))} ${c === 1 ? cur.centOne : cur.centMany}`;
    if (!c) return minus + wholePart;
    return minus + (Number(whole) === 0 ? centPart : `${wholePart} and ${centPart}`);
  }
  return `${minus}${numberWords(amount)} ${isSingular(amount) ? cur.one : cur.many}`;
}

/** [written forms, singular, plural]; case-sensitive ("m" metres, "M" million). */
const UNITS: Array<[string[], string, string]> = [
  [['km/h', 'kph', 'kmh'], 'kilometer per hour', 'kilometers per hour'],
  [['mph'], 'mile per hour', 'miles per hour'],
  [['m/s'], 'meter per second', 'meters per second'],
  [['km'], 'kilometer', 'kilometers'],
  [['cm'], 'centimeter', 'centimeters'],
  [['mm'], 'millimeter', 'millimeters'],
  [['m'], 'meter', 'meters'],
  [['mi'], 'mile', 'miles'],
  [['ft'], 'foot', 'feet'],
  [['kg', 'kgs'], 'kilogram', 'kilograms'],
  [['mg'], 'milligram', 'milligrams'],
  [['g'], 'gram', 'grams'],
  [['lb', 'lbs'], 'pound', 'pounds'],
  [['oz'], 'ounce', 'ounces'],
  [['ml', 'mL'], 'milliliter', 'milliliters'],
  [['L'], 'liter', 'liters'],
  [['ms'], 'millisecond', 'milliseconds'],
  [['sec', 'secs'], 'second', 'seconds'],
  [['min', 'mins'], 'minute', 'minutes'],
  [['h', 'hr', 'hrs'], 'hour', 'hours'],
  [['yr', 'yrs'], 'year', 'years'],
  [['MB/s', 'MBps'], 'megabyte per second', 'megabytes per second'],
  [['GB/s', 'GBps'], 'gigabyte per second', 'gigabytes per second'],
  [['Mbps', 'Mbit/s', 'Mb/s'], 'megabit per second', 'megabits per second'],
  [['Gbps', 'Gbit/s', 'Gb/s'], 'gigabit per second', 'gigabits per second'],
  [['KB', 'kB'], 'kilobyte', 'kilobytes'],
  [['MB'], 'megabyte', 'megabytes'],
  [['GB'], 'gigabyte', 'gigabytes'],
  [['TB'], 'terabyte', 'terabytes'],
  [['Hz'], 'hertz', 'hertz'],
  [['kHz'], 'kilohertz', 'kilohertz'],
  [['MHz'], 'megahertz', 'megahertz'],
  [['GHz'], 'gigahertz', 'gigahertz'],
  [['kW'], 'kilowatt', 'kilowatts'],
  [['kWh'], 'kilowatt hour', 'kilowatt hours'],
  [['W'], 'watt', 'watts'],
  [['V'], 'volt', 'volts'],
  [['dB'], 'decibel', 'decibels'],
  [['fps'], 'frame per second', 'frames per second'],
  [['px'], 'pixel', 'pixels'],
  [['x'], 'time', 'times'],
  [['k'], 'thousand', 'thousand'],
  [['M', 'mn'], 'million', 'million'],
  [['bn'], 'billion', 'billion'],
];
const UNIT_BY_FORM = new Map(UNITS.flatMap(([forms, one, many]) => forms.map((f) => [f, [one, many]] as const)));
const UNIT_ALTERNATION = [...UNIT_BY_FORM.keys()]
  .sort((a, b) => b.length - a.length)
  .map((f) => f.replace(/[/]/g, '\\/'))
  .join('|');

const FRACTION_NAMES = ['', '', 'half', 'third', 'quarter'];

function fractionWords(num: string, den: string): string {
  const n = Number(num);
  const d = Number(den);
  if (n === 50 && d === 50) return 'fifty fifty';
  if (n === d || d === 10 || d === 100) return `${cardinalWords(num)} out of ${cardinalWords(den)}`; // "5/5", "8/10"
  if (d === 0 || n > d) return `${cardinalWords(num)} ${cardinalWords(den)}`; // "24/7", "50/50"
  if (d <= 10) {
    const name = FRACTION_NAMES[d] ?? ordinalOf(cardinalWords(den));
    return `${cardinalWords(num)} ${n === 1 ? name : pluralOf(name)}`;
  }
  return `${cardinalWords(num)} over ${cardinalWords(den)}`;
}

function hourMinute(h: string, m: string, s: string | undefined, meridiem: boolean): string {
  const hour = cardinalWords(h);
  const min = Number(m);
  let words: string;
  if (min === 0) words = meridiem ? hour : Number(h) >= 1 && Number(h) <= 12 ? `${hour} o'clock` : `${hour} hundred`;
  else words = `${hour} ${min < 10 ? `oh ${cardinalWords(m)}` : cardinalWords(m)}`;
  if (s && Number(s)) words += ` and ${cardinalWords(s)} ${Number(s) === 1 ? 'second' : 'seconds'}`;
  return words;
}

const re = (source: string, flags = 'gu'): RegExp => new RegExp(source, flags);
const MERIDIEM = String.raw`([aApP])\.?\s?([mM]\.?)(?!\p{L})`;

/** Calendar dates: ISO, d/m/y or m/d/y (month first unless the first part cannot be a month), "March 5". */
function dates(s: string): string {
  return s
    .replace(/(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])/g, (all, y: string, m: string, d: string) =>
      dateWords(Number(m), Number(d), y) ?? all,
    )
    .replace(/(?<![\d/])(\d{1,2})\/(\d{1,2})\/(\d{4}|\d{2})(?![\d/])/g, (all, a: string, b: string, y: string) =>
      Number(a) > 12 ? dateWords(Number(b), Number(a), y) ?? all : dateWords(Number(a), Number(b), y) ?? all,
    )
    .replace(
      /\b(January|February|March|April|May|June|July|August|September|October|November|December)\s+(\d{1,2})(?:st|nd|rd|th)?(?![\d:.,]\d|\d)/g,
      (all, month: string, day: string) => (Number(day) >= 1 && Number(day) <= 31 ? `${month} ${ordinalWords(day)}` : all),
    );
}

/** Phone numbers and long digit strings, digit by digit (a pause between groups); "007" too. */
function digitStrings(s: string): string {
  const phone = (all: string): string => {
    const groups = all.match(/\d+/g) ?? [];
    if (groups.join('').length < 7) return all;
    return ` ${all.trim().startsWith('+') ? 'plus ' : ''}${groups.map(digitWords).join(', ')} `;
  };
  return (
    s
      .replace(/(?<![\p{L}\p{N}])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\d)/gu, phone)
      .replace(/(?<![\d(])(?:\(\d{3}\)\s?\d{3}[\s.-]|\d{3}([.-])\d{3}\1)\d{4}(?!\d)/g, phone)
      // Long digit strings are codes or numbers to dial; round amounts ("1000000") are still amounts.
      .replace(/(?<![\d.,])\d{7,}(?!\d|[.,]\d)/g, (all) => (/^[1-9]\d*000$/.test(all) ? all : digitWords(all)))
      .replace(/(?<![\d.,:])0\d+(?!\d|[.,:]\d)/g, digitWords)
  );
}

/** "10:30", "9:05 pm", "14:00", "3pm", "2-3 p.m."; then ratios like "16:9". */
function times(s: string): string {
  return s
    .replace(
      re(String.raw`(?<![\d:.,])([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?(?![\d:])(?:\s?${MERIDIEM})?`),
      (all, h: string, m: string, sec: string | undefined, ap: string | undefined, mm: string | undefined, offset: number, whole: string) => {
        const tail = ap ? ` ${ap.toLowerCase()} m${sentenceDot(mm!, whole.slice(offset + all.length))}` : '';
        return hourMinute(h, m, sec, Boolean(ap)) + tail;
      },
    )
    .replace(
      re(String.raw`(?<![\d.,:])(?:(1[0-2]|0?[1-9])\s?[-–]\s?)?(1[0-2]|0?[1-9])\s?${MERIDIEM}`),
      (all, from: string | undefined, h: string, ap: string, mm: string, offset: number, whole: string) =>
        `${from ? `${cardinalWords(from)} to ` : ''}${cardinalWords(h)} ${ap.toLowerCase()} m${sentenceDot(mm, whole.slice(offset + all.length))}`,
    )
    .replace(/(?<![\d:.,])(\d{1,2}):(\d)(?![\d:])/g, '$1 to $2');
}

/** Money, percentages, degrees and units, ranges of them included ("$5-10", "10-20%", "5-10 km"). */
function quantities(s: string): string {
  return (
    s
      // The first half of a range is read now; the second half is read with its unit below.
      .replace(
        re(String.raw`${SIGN}([$€£¥₹])\s?(${NUM})${END}\s?[-–]\s?(?=[$€£¥₹]?\s?${NUM})`),
        (_all, sign: string | undefined, sym: string, a: string) => `${signed(sign, a)} to ${sym}`,
      )
      .replace(
        re(String.raw`${START}(?<![$€£¥₹]\s?)${SIGN}(${NUM})${END}\s?[-–]\s?(?=${NUM}${END}\s?(?:%|°|(?:${UNIT_ALTERNATION})(?![\p{L}\p{N}])))`),
        (_all, sign: string | undefined, a: string) => `${signed(sign, a)} to `,
      )
      // "$5", "$1.5M", "$4.99", "€20", "20€", "5 USD".
      .replace(
        re(String.raw`${SIGN}([$€£¥₹])\s?(${NUM})${END}(?:\s?(thousand|million|billion|trillion|k|K|m|M|mn|bn|b|B|tn)(?!\p{L}))?`),
        (_all, sign: string | undefined, sym: string, amount: string, scale: string | undefined) => money(sign, amount, scale, CURRENCIES[sym]!),
      )
      .replace(
        re(String.raw`${START}${SIGN}(${NUM})${END}\s?(€|£|\$|USD|EUR|GBP|JPY)(?![\p{L}\p{N}])`),
        (_all, sign: string | undefined, amount: string, sym: string) => money(sign, amount, undefined, CURRENCIES[sym]!),
      )
      .replace(re(String.raw`${START}${SIGN}(${NUM})${END}\s?%`), (_all, sign: string | undefined, n: string) => `${signed(sign, n)} percent`)
      .replace(
        re(String.raw`(?:${START}${SIGN}(${NUM})${END})?\s?°\s?([CFK])(?![\p{L}])`),
        (_all, sign: string | undefined, n: string | undefined, scale: string) =>
          `${n ? `${signed(sign, n)} ` : ' '}${n && isSingular(n) ? 'degree' : 'degrees'} ${{ C: 'Celsius', F: 'Fahrenheit', K: 'Kelvin' }[scale]}`,
      )
      .replace(re(String.raw`${START}${SIGN}(${NUM})${END}\s?°`), (_all, sign: string | undefined, n: string) =>
        `${signed(sign, n)} ${isSingular(n) ? 'degree' : 'degrees'}`,
      )
      // "5 km" → "five kilometers", "2 m^2" → "two square meters", "3x" → "three times".
      .replace(
        re(String.raw`${START}${SIGN}(${NUM})${END}\s?(${UNIT_ALTERNATION})(\^[23])?(?![\p{L}\p{N}])`),
        (_all, sign: string | undefined, n: string, unit: string, power: string | undefined) => {
          const [one, many] = UNIT_BY_FORM.get(unit)!;
          const shape = power === '^2' ? 'square ' : power === '^3' ? 'cubic ' : '';
          return `${signed(sign, n)} ${shape}${isSingular(n) ? one : many}`;
        },
      )
  );
}

/** Ordinals ("21st"), decades ("1990s", "'80s"), fractions ("3/4"). */
function ordinalsAndFractions(s: string): string {
  return s
    .replace(/(?<![\d.,])(\d+)(st|nd|rd|th|ST|ND|RD|TH)(?![\p{L}\p{N}])/gu, (_all, n: string) => ordinalWords(n))
    .replace(/(?<![\d.,])(1\d|20)(\d0)'?s(?![\p{L}\p{N}])/gu, (_all, a: string, b: string) => pluralOf(yearWords(Number(a + b))))
    .replace(/(?<![\p{L}\p{N}.,])'?([1-9]0)'?s(?![\p{L}\p{N}])/gu, (_all, n: string) => pluralOf(cardinalWords(n)))
    .replace(/(?<![\d/.,])(\d{1,3})\/(\d{1,3})(?![\d/]|[.,]\d)/g, (_all, n: string, d: string) => fractionWords(n, d));
}

/** A little arithmetic: powers, and operators with digits on both sides. A spaced "-" is "minus" only in
 *  an equation; elsewhere "5 - 10" is a range. */
function arithmetic(s: string): string {
  const equation = /\d\s*=\s*[-\d(]|[-\d)]\s*=\s*\d/.test(s);
  const out = s
    .replace(/\s*\^\s*2(?!\d)/g, ' squared')
    .replace(/\s*\^\s*3(?!\d)/g, ' cubed')
    .replace(/\s*\^\s*(?=\d)/g, ' to the power of ')
    .replace(/(\d)\s*\+\s*(?=[-\d(.])/g, '$1 plus ')
    .replace(/(\d)\s*(?:×|\s[x*]\s)\s*(?=\d)/g, '$1 times ')
    .replace(/(?<![\d.,])(\d+)x(\d+)(?!\d)/g, (_all, a: string, b: string) => `${cardinalWords(a)} by ${cardinalWords(b)}`) // 1920x1080
    .replace(/(\d)\s*÷\s*(?=\d)/g, '$1 divided by ')
    .replace(/(\d)\s*(?:<=|≤)\s*(?=[-\d])/g, '$1 is at most ')
    .replace(/(\d)\s*(?:>=|≥)\s*(?=[-\d])/g, '$1 is at least ')
    .replace(/(\d)\s*<\s*(?=[-\d])/g, '$1 is less than ')
    .replace(/(\d)\s*>\s*(?=[-\d])/g, '$1 is more than ');
  return equation ? out.replace(/(\d)\s+[-−]\s+(?=\d)/g, '$1 minus ') : out;
}

/** "5-10" → "five to ten", "1990–2000" → "nineteen ninety to two thousand", "50-50" → "fifty fifty". */
function ranges(s: string): string {
  return s.replace(
    re(String.raw`${START}${SIGN}(${NUM})${END}\s?[-–—]\s?(${NUM})${END}(?![-–—]\d)`),
    (_all, sign: string | undefined, a: string, b: string) =>
      `${sign ? `minus ${numberWords(a)}` : bare(a)} ${a === b && !sign ? '' : 'to '}${bare(b)}`,
  );
}

/** Digits glued to letters ("mp3", "3D") are split off; then every number left is read on its own. */
function plainNumbers(s: string): string {
  return s
    .replace(/(\p{L})(?=\d)/gu, '$1 ')
    .replace(/(\d)(?=\p{L})/gu, '$1 ')
    .replace(
      re(String.raw`(?<!\p{N})(?:(?<![\p{L}\p{N}\-])([-−]))?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)*|\.\d+)(?!\d)`),
      (_all, sign: string | undefined, n: string) => (sign ? signed(sign, n) : bare(n)),
    );
}

/** Most specific first: each step turns its digits into words, so later steps never see them. */
const STEPS = [dates, digitStrings, times, quantities, ordinalsAndFractions, arithmetic, ranges, plainNumbers];

export function expandNumbers(s: string): string {
  return STEPS.reduce((text, step) => step(text), s);
}
