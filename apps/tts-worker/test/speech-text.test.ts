import { describe, expect, it } from 'vitest';
import { foldToAscii, toSpeechText } from '../src/speech-text.js';

type Case = [input: string, expected: string];

/** Rule → [input, expected output] with the default options (stage directions skipped). */
const RULES: Record<string, Case[]> = {
  'markdown headings become sentences': [
    ['# Heading', 'Heading.'],
    ['## Step 1: Setup ##', 'Step one: Setup.'],
  ],
  'markdown emphasis is unwrapped, snake_case is not emphasis': [
    ['**bold** and __strong__ words', 'bold and strong words'],
    ['***both*** at once', 'both at once'],
    ['an _italic_ word', 'an italic word'],
    ['keep my_var_name intact', 'keep my var name intact'],
    ['I *really* mean it.', 'I really mean it.'],
    ['~~old~~ new', 'new'],
  ],
  'blockquotes, bullets, numbered lists and rules lose their marks': [
    ['> quoted wisdom', 'quoted wisdom'],
    ['- first item\n* second item', 'first item. second item.'],
    ['1. Open the app\n2. Tap Settings\n3. Done!', 'Open the app. Tap Settings. Done!'],
    ['---', ''],
  ],
  'tables are read row by row': [['| Name | Age |\n|---|---|\n| Ann | 34 |', 'Name, Age. Ann, thirty-four.']],
  'links keep their text, images go': [
    ['Read [the guide](https://example.com/guide "Guide") first.', 'Read the guide first.'],
    ['![diagram](https://x.com/d.png) See above.', 'See above.'],
  ],
  'inline code is kept only when word-like; fenced code is dropped': [
    ['Run `npm test` now.', 'Run npm test now.'],
    ['Avoid `rm -rf / && echo x` please.', 'Avoid please.'],
    ['Before\n```ts\nconst x = 1;\n```\nAfter', 'Before. After'],
    ['Unclosed\n```\ncode here', 'Unclosed.'],
  ],
  'HTML tags and entities': [
    ['<p>Hello <b>world</b><br/>again</p>', 'Hello world again'],
    ['AT&amp;T says &#39;hi&#39;', 'A T and T says hi'],
  ],
  'stage directions are skipped by default': [
    ['*smiles* Hello there.', 'Hello there.'],
    ['Hello! *waves hand*', 'Hello!'],
    ['*leans in and whispers quietly* I know.', 'I know.'],
    ['(laughs) That is funny.', 'That is funny.'],
    ['That is funny [sighs deeply]', 'That is funny'],
  ],
  'other brackets are asides, read between pauses': [
    ['The capital (Paris) is lovely.', 'The capital, Paris, is lovely.'],
    ['As shown [1], it works.', 'As shown, it works.'],
    ['Note (see the 2nd chapter, page 5) for more.', 'Note, see the second chapter, page five, for more.'],
    ['Bring your friend(s).', 'Bring your friends.'],
  ],
  'emoji, ZWJ sequences, skin tones, keycaps and flags are removed': [
    ['Great job 👍🏽!', 'Great job!'],
    ['Family: 👨‍👩‍👧‍👦 together', 'Family: together'],
    ['Press 1️⃣ now', 'Press now'],
    ['Go 🇺🇸 team', 'Go team'],
    ['Love it ❤️ so much', 'Love it so much'],
    ['Sure thing :) see you', 'Sure thing see you'],
    ['😀😀😀', ''],
  ],
  'symbols are read as words': [
    ['Tom & Jerry', 'Tom and Jerry'],
    ["It's 50% off", "It's fifty percent off"],
    ['Thanks @Alice!', 'Thanks Alice!'],
    ["We're #1 again", "We're number one again"],
    ['Trending #ThrowbackThursday today', 'Trending Throwback Thursday today'],
    ['2 + 2 = 4', 'two plus two equals four'],
    ['~5 minutes', 'about five minutes'],
    ['and/or', 'and or'],
    ['yes/no', 'yes or no'],
  ],
  'temperatures and money': [
    ["It's 20°C outside", "It's twenty degrees Celsius outside"],
    ["It's 68°F outside", "It's sixty-eight degrees Fahrenheit outside"],
    ['Turn it 90°', 'Turn it ninety degrees'],
    ['It costs $5', 'It costs five dollars'],
    ['It costs $1', 'It costs one dollar'],
    ['About €20 or £15', 'About twenty euros or fifteen pounds'],
    ['That costs $0.99, or $4.50', 'That costs ninety-nine cents, or four dollars and fifty cents'],
    ['Raised $2.5M', 'Raised two point five million dollars'],
  ],
  'ellipses and dashes are pauses': [
    ['Wait... what?', 'Wait, what?'],
    ['I guess…', 'I guess.'],
    ['Fine — whatever.', 'Fine, whatever.'],
    ['Pages 3–7', 'Pages three to seven'],
  ],
  'URLs are read as their host, e-mail addresses in full': [
    ['Visit https://www.example.com/path?q=1 today.', 'Visit example dot com today.'],
    ['See http://sub.domain.co.uk/a/b.', 'See sub dot domain dot co dot uk.'],
    ['Go to example.com/docs.', 'Go to example dot com.'],
    ['Write to a.b@x.org please.', 'Write to a dot b at x dot org please.'],
  ],
  'integers, decimals, thousands separators and signs': [
    ['1234', 'one thousand two hundred thirty-four'],
    ['12,500', 'twelve thousand five hundred'],
    ['1,000,000', 'one million'],
    ['3,000,000,042', 'three billion forty-two'],
    ['-42', 'minus forty-two'],
    ['3.14', 'three point one four'],
    ['Version 2.1.3', 'Version two point one point three'],
  ],
  'ordinals': [
    ['1st 2nd 3rd 21st', 'first second third twenty-first'],
    ['the 100th time', 'the one hundredth time'],
  ],
  'years and decades': [
    ['1999', 'nineteen ninety-nine'],
    ['2024', 'twenty twenty-four'],
    ['2000', 'two thousand'],
    ['2005', 'two thousand five'],
    ['1905', 'nineteen oh five'],
    ['the 1990s and the 80s', 'the nineteen nineties and the eighties'],
    ['on 2024-03-15', 'on March fifteenth, twenty twenty-four'],
  ],
  'times of day': [
    ['10:30', 'ten thirty'],
    ['9:05', 'nine oh five'],
    ['7:00', "seven o'clock"],
    ['at 3pm', 'at three p m'],
    ['at 3 p.m. today', 'at three p m today'],
    ['10:30 AM', 'ten thirty a m'],
    ['2-3 pm', 'two to three p m'],
  ],
  'ranges and fractions': [
    ['5-10', 'five to ten'],
    ['1/2', 'one half'],
    ['3/4', 'three quarters'],
    ['2/3 and 1/8', 'two thirds and one eighth'],
    ['3/11', 'three over eleven'],
    ['I give it 8/10', 'I give it eight out of ten'],
    ['24/7', 'twenty-four seven'],
    ['1½ cups', 'one and one half cups'],
  ],
  'phone numbers and long digit strings are read digit by digit': [
    ['5551234567', 'five five five one two three four five six seven'],
    ['Call 555-123-4567', 'Call five five five, one two three, four five six seven'],
    ['+44 20 7946 0958', 'plus four four, two zero, seven nine four six, zero nine five eight'],
  ],
  'abbreviations': [
    ['Mr. Smith', 'Mister Smith'],
    ['Mrs. Jones and Ms. Lee', 'Missus Jones and Miz Lee'],
    ['Dr. Brown', 'Doctor Brown'],
    ['St. Louis', 'Saint Louis'],
    ['on Baker St. today', 'on Baker Street today'],
    ['cats vs. dogs', 'cats versus dogs'],
    ['apples, pears, etc.', 'apples, pears, et cetera.'],
    ['fruit, e.g. apples', 'fruit, for example apples'],
    ['pears, i.e. fruit', 'pears, that is fruit'],
    ['approx. 5 km', 'approximately five kilometers'],
  ],
  'units after a number': [
    ['1 km', 'one kilometer'],
    ['2 kg and 30 cm and 4 mm', 'two kilograms and thirty centimeters and four millimeters'],
    ['60 km/h or 40 mph', 'sixty kilometers per hour or forty miles per hour'],
    ['3.5 GB', 'three point five gigabytes'],
  ],
  'acronyms are spelled unless said as words': [
    ['the FBI and the USA', 'the F B I and the U S A'],
    ['NASA and NATO', 'Nasa and Nato'],
    ['LLM TTS API', 'L L M T T S A P I'],
    ['APIs', "A P I's"],
    ['ChatGPT', 'Chat G P T'],
    ['The U.S. Army', 'The U S Army'],
  ],
  'shouted words are words, not acronyms': [
    ['NO WAY', 'no way'],
    ["I LOVE it, DON'T stop", "I love it, don't stop"],
  ],
  'whitespace is collapsed and trimmed': [
    ['   lots    of \t  space   ', 'lots of space'],
    ['line one\nline two', 'line one line two'],
    ['', ''],
    ['   ', ''],
  ],
};

describe('toSpeechText', () => {
  for (const [rule, cases] of Object.entries(RULES)) {
    it.each(cases)(`${rule}: %j`, (input, expected) => {
      expect(toSpeechText(input)).toBe(expected);
    });
  }

  it('reads stage directions as plain words when asked to', () => {
    const speak = { stageDirections: 'speak' } as const;
    expect(toSpeechText('*smiles* Hello there.', speak)).toBe('smiles, Hello there.');
    expect(toSpeechText('Hello! *waves hand*', speak)).toBe('Hello! waves hand');
    expect(toSpeechText('(laughs) That is funny.', speak)).toBe('laughs, That is funny.');
    expect(toSpeechText('That is funny [sighs]', speak)).toBe('That is funny, sighs');
  });

  it('returns an empty string when nothing speakable is left', () => {
    for (const input of ['*smiles*', '(laughs)', '👍', '```\ncode\n```', '---', '...', '![x](y.png)', '<br/>']) {
      expect(toSpeechText(input)).toBe('');
    }
  });
});

/** Realistic character-chat and assistant messages, with everything the rules must cope with at once. */
const MESSY = [
  "*smiles warmly* Well hello there, traveler! 👋 What brings you to St. Mary's on this fine day?",
  'Oh, you know... just the usual. (sighs) The FBI called again at 3 p.m. about the $5,000 fine.',
  '**Important:** read the [docs](https://docs.example.com/v2/intro?lang=en) before 10:30 tomorrow!',
  'I scored 98% on the test — not bad for a 2nd try, right? 😅',
  '## Step 1\n- Preheat the oven to 180°C (350°F).\n- Mix 1/2 cup of sugar with 2 eggs.',
  "Here's the code:\n```python\nprint('hi')\n```\nThat's it!",
  'Email me at jane.doe@example.org or call +1 (555) 123-4567.',
  'NASA and the ESA launched 12 satellites in the 1990s, approx. 1.5 tonnes each.',
  'The API returns JSON; the LLM and TTS pipeline takes ~200 ms.',
  'Wow!!! That\'s AMAZING!!! I can\'t believe it?!',
  'Meet me on Jan. 5 at 9:05 am, i.e. right after breakfast.',
  'The temperature dropped to -12°F overnight.',
  'Mr. & Mrs. Jones vs. the Smiths: round 2!',
  'Our Q3 revenue grew 12.5% year over year, to $1.2B.',
  'Check out #ThrowbackThursday and #1 hits from the \'80s!',
  'The ratio is 16:9 and the resolution 1920x1080.',
  '<p>Hello <b>world</b> &amp; friends</p>',
  'The U.S. and the U.K. signed it in Washington D.C. yesterday.',
  'I ❤️ NY and 🍕!',
  'He said "hello" and left.',
  'What do you think about GPT-4 and ChatGPT?',
  'It happened on 12/25/2023, around 11:45 p.m.',
  'Try Ctrl+C, then Ctrl+V.',
  'He lives at 221B Baker St. London.',
  'The CEO of IBM met the CTO of AT&T.',
  'COVID-19 changed everything in 2020.',
  'ｆｕｌｌ ｗｉｄｔｈ and ﬁne ligatures, café, naïve, Ω, 中文',
  'zero\u200bwidth\u00adsoft\ufeffhyphen and a\u0301 combining mark',
  '\u0000control\u0007chars\tand\r\nCRLF',
  '](*[)_`#@$%^&*=+|\\<>{}~',
  '1️⃣2️⃣3️⃣ #️⃣ *️⃣ 👩🏽‍💻 🏳️‍🌈 🏴󠁧󠁢󠁳󠁣󠁴󠁿',
];

/** Deterministic pseudo-random strings mixing markup, symbols, numbers and arbitrary Unicode. */
function randomInputs(count: number, seed: number): string[] {
  let state = seed;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const pieces = [
    'Hello', 'world', ' ', ' ', '.', ',', '!', '?', '*', '**', '_', '(', ')', '[', ']', '#', '@', '$', '%', '&',
    '-', '—', '/', ':', '"', "'", '`', '```', '\n', '~', '+', '=', '<', '>', '|', '^', '5', '12', '1999', '3.14',
    '10:30', '1/2', '1st', '😀', '👨‍👩‍👧', '1️⃣', '🇺🇸', 'FBI', 'NASA', 'Dr.', 'St.', 'e.g.', 'etc.',
    'https://www.example.com/x?y=1', 'a.b@x.org', 'km', 'GB', 'pm', 'é', '½', '²', '\u200b', '…', 'smiles', 'U.S.',
    '°C', '€', '...', 'APIs',
  ];
  const anyChar = (): string => {
    const r = next();
    let cp = r < 0.3 ? 0x20 + Math.floor(next() * 0x5f) : r < 0.7 ? Math.floor(next() * 0x3000) : 0x1f300 + Math.floor(next() * 0x600);
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
    return String.fromCodePoint(cp);
  };
  return Array.from({ length: count }, () => {
    let s = '';
    const len = 1 + Math.floor(next() * 14);
    for (let i = 0; i < len; i++) s += next() < 0.3 ? anyChar() : pieces[Math.floor(next() * pieces.length)];
    return s;
  });
}

const WHITELIST = /^[\p{L}\p{M}0-9.,?!':;\- ]*$/u;

describe('toSpeechText properties', () => {
  const inputs = [...MESSY, ...Object.values(RULES).flat().map(([input]) => input), ...randomInputs(1500, 42)];

  it('is idempotent', () => {
    for (const stageDirections of ['skip', 'speak'] as const) {
      for (const input of inputs) {
        const once = toSpeechText(input, { stageDirections });
        expect(toSpeechText(once, { stageDirections }), JSON.stringify(input)).toBe(once);
      }
    }
  });

  it('leaves only letters, digits, basic punctuation and single spaces', () => {
    for (const input of inputs) {
      const out = toSpeechText(input);
      expect(out, JSON.stringify(input)).toMatch(WHITELIST);
      expect(out).toBe(out.trim());
      expect(out).not.toMatch(/ {2}/);
    }
  });

  it('leaves no digits in realistic messages', () => {
    for (const input of MESSY) expect(toSpeechText(input), input).not.toMatch(/\d/);
  });
});

describe('foldToAscii', () => {
  it('removes diacritics and drops letters with no ASCII reading', () => {
    expect(foldToAscii('café naïve Straße Ærø 中文 ok')).toBe('cafe naive Strasse AEro ok');
  });
});
