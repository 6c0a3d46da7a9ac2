import { describe, expect, it } from 'vitest';
import { SentenceSplitter, type SentenceSplitterOptions } from '../src/sentences.js';

/** Feeds the deltas one by one; returns what each push released, then what flush released. */
function steps(deltas: string[], options?: SentenceSplitterOptions): string[][] {
  const splitter = new SentenceSplitter(options);
  const out = deltas.map((d) => splitter.push(d));
  out.push(splitter.flush());
  return out;
}
/** All sentences of a stream, in order. */
const sentences = (deltas: string[], options?: SentenceSplitterOptions): string[] => steps(deltas, options).flat();
/** One sentence splitter run over the whole text at once, with early first clause release off. */
const whole = (text: string): string[] => sentences([text], { firstClauseMinChars: Infinity });
/** Every character of `text`, one delta each. */
const chars = (text: string): string[] => Array.from(text);

/** Deterministic pseudo-random numbers (mulberry32), so a failing split can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function randomDeltas(text: string, random: () => number, maxLen = 9): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const n = 1 + Math.floor(random() * maxLen);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}
const noSpace = (s: string): string => s.replace(/\s+/g, '');

const PARAGRAPHS = `Hello there! I'm glad you asked, because this is a long story. Mr. Smith met Dr. Jones at St. Paul's
at 9 a.m. on Tuesday. They talked about the U.S. economy, e.g. inflation, i.e. prices going up, etc. and more.
Pi is 3.14159, and a coffee costs $2.50 now. Version v1.2.3 was released... Really? Yes! Visit example.com or
write to alice@example.org for details. Red vs. blue is an old debate — nobody wins.

Here is the plan:
1. Buy milk.
2. Call Mom.
3. Finish the report by 5 p.m. today.

"Is that all?" she asked. "Yes," he said. Wait... what did you say? I said nothing… honestly. No. 5 is my favourite.
J. R. R. Tolkien wrote it in 1937. The end.`;

describe('SentenceSplitter', () => {
  it('releases a sentence only once text after its boundary has started', () => {
    expect(steps(['Hello wor', 'ld. How', ' are you?'])).toEqual([[], ['Hello world.'], [], ['How are you?']]);
  });

  it('does not release a sentence on a trailing period alone', () => {
    const splitter = new SentenceSplitter();
    expect(splitter.push('It is done.')).toEqual([]);
    expect(splitter.push(' ')).toEqual([]);
    expect(splitter.push('Next')).toEqual(['It is done.']);
  });

  it('does not split inside a decimal number that arrives across deltas', () => {
    expect(steps(['Pi is 3.', '14 roughly. Then', ' more.'])).toEqual([[], ['Pi is 3.14 roughly.'], [], ['Then more.']]);
    expect(sentences(['It costs $2', '.', '50 today. Cheap!'])).toEqual(['It costs $2.50 today.', 'Cheap!']);
  });

  it('does not split a version number', () => {
    expect(sentences(chars('Version v1.2.3 shipped. Upgrade now.'))).toEqual(['Version v1.2.3 shipped.', 'Upgrade now.']);
  });

  it('waits when a period is followed by a digit that may continue the sentence', () => {
    // ICU breaks "Hello world. 5" but not "Hello world. 5 apples": a digit does not settle the boundary.
    const splitter = new SentenceSplitter();
    expect(splitter.push('I counted them. 5')).toEqual([]);
    expect(splitter.push(' apples. Nice')).toEqual(['I counted them. 5 apples.']);
  });

  it('does not split after title abbreviations', () => {
    expect(sentences(chars("Mr. Smith met Mrs. Brown and Dr. Jones at St. Paul's. Then they left."))).toEqual([
      "Mr. Smith met Mrs. Brown and Dr. Jones at St. Paul's.",
      'Then they left.',
    ]);
  });

  it('does not split after e.g., i.e., etc. and vs. inside a sentence', () => {
    expect(whole('Use fruit, e.g. Apples, i.e. Granny Smith, etc. and more. Red vs. Blue is old. Fine.')).toEqual([
      'Use fruit, e.g. Apples, i.e. Granny Smith, etc. and more.',
      'Red vs. Blue is old.',
      'Fine.',
    ]);
  });

  it('does not split after U.S. or a.m./p.m. inside a sentence', () => {
    expect(whole('He lives in the U.S. and works at 9 a.m. daily. The U.S. Army is big. Lunch at 1 p.m. sharp. Ok.')).toEqual([
      'He lives in the U.S. and works at 9 a.m. daily.',
      'The U.S. Army is big.',
      'Lunch at 1 p.m. sharp.',
      'Ok.',
    ]);
  });

  it('does not split between initials', () => {
    expect(whole('J. R. R. Tolkien wrote it. Yes.')).toEqual(['J. R. R. Tolkien wrote it.', 'Yes.']);
  });

  it('keeps "No." with the number it abbreviates', () => {
    expect(whole('Take No. 5 Street. Then turn.')).toEqual(['Take No. 5 Street.', 'Then turn.']);
    expect(whole('She said No. Then she left.')).toEqual(['She said No.', 'Then she left.']);
  });

  it('does not split inside an ellipsis followed by lowercase text', () => {
    expect(sentences(chars('Wait... what happened here? I know… honestly. Fine.'))).toEqual([
      'Wait... what happened here?',
      'I know… honestly.',
      'Fine.',
    ]);
  });

  it('splits after an ellipsis that ends a sentence', () => {
    expect(whole("I don't know... Really. Ok.")).toEqual(["I don't know...", 'Really.', 'Ok.']);
  });

  it('does not split URLs or email addresses', () => {
    expect(sentences(chars('Visit example.com or write to alice@example.org today. Thanks.'))).toEqual([
      'Visit example.com or write to alice@example.org today.',
      'Thanks.',
    ]);
  });

  it('ends a sentence at a newline without waiting for more text', () => {
    const splitter = new SentenceSplitter({ firstClauseMinChars: Infinity });
    expect(splitter.push('Shopping list\n')).toEqual(['Shopping list']);
    expect(splitter.push('- milk\n')).toEqual(['- milk']);
    expect(splitter.push('\n\n')).toEqual([]);
    expect(splitter.push('- eggs')).toEqual([]);
    expect(splitter.flush()).toEqual(['- eggs']);
  });

  it('splits a numbered list into its items, keeping each number with its item', () => {
    expect(whole('Steps:\n1. Buy milk.\n2. Call Mom.\n\n3) Rest. Done.')).toEqual([
      'Steps:',
      '1. Buy milk.',
      '2. Call Mom.',
      '3) Rest.',
      'Done.',
    ]);
  });

  it('releases several sentences that arrive in one delta', () => {
    expect(steps(['One. Two! Three? Four'])).toEqual([['One.', 'Two!', 'Three?'], ['Four']]);
  });

  it('returns trimmed non-empty sentences only', () => {
    expect(sentences(['   ', '\n', '  Hello.  ', '  ', '\n\n  World.   \n'])).toEqual(['Hello.', 'World.']);
    expect(sentences([])).toEqual([]);
    expect(sentences(['   \n  '])).toEqual([]);
  });

  it('flushes an unfinished sentence at the end of the stream', () => {
    expect(steps(['An unfinished thought'])).toEqual([[], ['An unfinished thought']]);
    expect(steps(['Dr. '])).toEqual([[], ['Dr.']]);
  });

  it('starts a new message after flush', () => {
    const splitter = new SentenceSplitter();
    splitter.push('First message, with a clause. Done');
    expect(splitter.flush()).toEqual(['Done']);
    // The early first clause applies again to the next message.
    expect(splitter.push('Well, my dear friend, hello')).toEqual(['Well, my dear friend,']);
  });

  describe('early first clause', () => {
    it('releases the first clause of a message at a comma once it is long enough', () => {
      expect(steps(['Well, I think', ' that is right,', ' yes. Next one, sure.'])).toEqual([
        [],
        [], // the comma is not a boundary until the space after it arrives
        ['Well, I think that is right,', 'yes.'],
        ['Next one, sure.'],
      ]);
    });

    it('releases at a semicolon, a colon and a spaced dash', () => {
      expect(sentences(['The answer is simple; it is 42. Ok.'])[0]).toBe('The answer is simple;');
      expect(sentences(['Here is the answer: it is 42. Ok.'])[0]).toBe('Here is the answer:');
      expect(sentences(['That was a long day — truly. Ok.'])[0]).toBe('That was a long day —');
    });

    it('does not release a clause shorter than firstClauseMinChars', () => {
      expect(sentences(['Yes, sure. Ok.'])).toEqual(['Yes, sure.', 'Ok.']);
      expect(sentences(['Yes, sure thing. Ok.'], { firstClauseMinChars: 4 })).toEqual(['Yes,', 'sure thing.', 'Ok.']);
    });

    it('only splits the first piece of a message', () => {
      expect(sentences(['Hi! Well, I think that is right, yes.'])).toEqual(['Hi!', 'Well, I think that is right, yes.']);
    });

    it('waits for the sentence end when the first clause has too many words', () => {
      const long = 'One two three four five six seven eight nine ten eleven twelve thirteen, and more. Ok.';
      expect(sentences([long])).toEqual([long.slice(0, -4), 'Ok.']);
      expect(sentences([long], { firstClauseMaxWords: 13 })[0]).toBe(
        'One two three four five six seven eight nine ten eleven twelve thirteen,',
      );
    });

    it('does not treat a thousands separator or a clock time as a clause boundary', () => {
      expect(sentences(chars('It costs 3,000,000 dollars, believe it. Ok.'))[0]).toBe('It costs 3,000,000 dollars,');
      expect(sentences(chars('We meet at 10:30 tomorrow morning, ok? Ok.'))[0]).toBe('We meet at 10:30 tomorrow morning,');
    });

    it('does not split a hyphenated word or an unspaced dash', () => {
      expect(whole('A well-known fact—surely—is this. Ok.')).toEqual(['A well-known fact—surely—is this.', 'Ok.']);
      expect(sentences(['A well-known fact—surely—is this, you see. Ok.'])[0]).toBe('A well-known fact—surely—is this,');
    });

    it('can be turned off', () => {
      expect(whole('Well, I think that is right, yes. Ok.')).toEqual(['Well, I think that is right, yes.', 'Ok.']);
    });
  });

  describe('with deltas split anywhere', () => {
    const seeds = Array.from({ length: 40 }, (_, i) => i + 1);

    it.each(seeds)('outputs every character exactly once (seed %i)', (seed) => {
      const out = sentences(randomDeltas(PARAGRAPHS, rng(seed)));
      expect(noSpace(out.join(''))).toBe(noSpace(PARAGRAPHS));
      for (const s of out) expect(s).toBe(s.trim());
      expect(out.every((s) => s.length > 0)).toBe(true);
    });

    it.each(seeds)('splits the same way however the deltas fall (seed %i)', (seed) => {
      const random = rng(seed);
      expect(sentences(randomDeltas(PARAGRAPHS, random, 1 + (seed % 30)))).toEqual(sentences([PARAGRAPHS]));
    });

    it('splits the sample paragraphs at the expected places', () => {
      expect(sentences(chars(PARAGRAPHS))).toEqual([
        'Hello there!',
        "I'm glad you asked, because this is a long story.",
        "Mr. Smith met Dr. Jones at St. Paul's",
        'at 9 a.m. on Tuesday.',
        'They talked about the U.S. economy, e.g. inflation, i.e. prices going up, etc. and more.',
        'Pi is 3.14159, and a coffee costs $2.50 now.',
        'Version v1.2.3 was released...',
        'Really?',
        'Yes!',
        'Visit example.com or',
        'write to alice@example.org for details.',
        'Red vs. blue is an old debate — nobody wins.',
        'Here is the plan:',
        '1. Buy milk.',
        '2. Call Mom.',
        '3. Finish the report by 5 p.m. today.',
        '"Is that all?" she asked.',
        '"Yes," he said.',
        'Wait... what did you say?',
        'I said nothing… honestly.',
        'No. 5 is my favourite.',
        'J. R. R. Tolkien wrote it in 1937.',
        'The end.',
      ]);
    });

    it('releases each sentence no later than the delta that settles it', () => {
      // One character at a time: "One." must come out exactly when the "T" of "Two" arrives.
      const out = steps(chars('One. Two. Three.'), { firstClauseMinChars: Infinity });
      const at = out.findIndex((r) => r.length > 0);
      expect(at).toBe('One. T'.length - 1);
      expect(out[at]).toEqual(['One.']);
    });
  });
});
