import { describe, expect, it } from 'vitest';
import { soundsFinished } from '../src/turn-end.js';

describe('soundsFinished (may a short silence end the turn?)', () => {
  it('a sentence that stops on an ordinary last word sounds finished', () => {
    expect(soundsFinished('alice what is the weather like on mars', ['Alice'])).toBe(true);
    expect(soundsFinished('what time is it', [])).toBe(true);
    expect(soundsFinished('where are you from', [])).toBe(true);
    expect(soundsFinished('bob do you like pizza', ['Alice', 'Bob'])).toBe(true);
  });

  it('a sentence that stops on a word that needs more (a conjunction, an article, a filler) does not', () => {
    expect(soundsFinished('alice tell me about mars and', ['Alice'])).toBe(false);
    expect(soundsFinished('what is the', [])).toBe(false);
    expect(soundsFinished('i think um', [])).toBe(false);
    expect(soundsFinished("let's", [])).toBe(false);
  });

  it('a greeting or a name alone is someone getting ready to talk, not a turn', () => {
    expect(soundsFinished('alice', ['Alice'])).toBe(false);
    expect(soundsFinished('hey alice', ['Alice'])).toBe(false);
    expect(soundsFinished('hello captain zorblax', ['Captain Zorblax'])).toBe(false);
    expect(soundsFinished('hello', [])).toBe(false);
    expect(soundsFinished('hello alice where do you live', ['Alice'])).toBe(true);
  });

  it('nothing recognised is not a finished turn', () => {
    expect(soundsFinished('', [])).toBe(false);
    expect(soundsFinished('   ', ['Alice'])).toBe(false);
  });
});
