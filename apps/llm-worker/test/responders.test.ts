import type { Character } from '@chorus/contracts';
import { describe, expect, it } from 'vitest';
import { pickResponders } from '../src/responders.js';

let nextId = 0;
function character(name: string, fields: Partial<Character> = {}): Character {
  nextId += 1;
  return {
    id: `c${nextId}`,
    name,
    system_prompt: '',
    voice_id: null,
    active: true,
    order: nextId,
    created_at: '2024-01-01T00:00:00.000Z',
    updated_at: '2024-01-01T00:00:00.000Z',
    ...fields,
  };
}
const names = (cs: Character[]): string[] => cs.map((c) => c.name);

describe('pickResponders', () => {
  const alice = character('Alice', { order: 1 });
  const bob = character('Bob', { order: 2 });
  const carol = character('Carol', { order: 3 });
  const cast = [carol, alice, bob];

  it('lets every active character answer in order when nobody is mentioned', () => {
    expect(names(pickResponders('Hello everyone!', cast))).toEqual(['Alice', 'Bob', 'Carol']);
  });

  it('breaks ties in order by name', () => {
    const zed = character('Zed', { order: 0 });
    const amy = character('Amy', { order: 0 });
    expect(names(pickResponders('hi', [zed, amy]))).toEqual(['Amy', 'Zed']);
  });

  it('picks an @mentioned character only', () => {
    expect(names(pickResponders('@Bob what do you think?', cast))).toEqual(['Bob']);
  });

  it('picks a bare name mentioned as a whole word', () => {
    expect(names(pickResponders('What does carol think', cast))).toEqual(['Carol']);
  });

  it('orders mentioned characters by first mention, not by order', () => {
    expect(names(pickResponders('Carol, then Alice, then Carol again.', cast))).toEqual(['Carol', 'Alice']);
    expect(names(pickResponders('@bob and @alice', cast))).toEqual(['Bob', 'Alice']);
  });

  it('matches regardless of case and surrounding punctuation', () => {
    expect(names(pickResponders('@alice, hi', cast))).toEqual(['Alice']);
    expect(names(pickResponders('ALICE?', cast))).toEqual(['Alice']);
    expect(names(pickResponders('(bob)', cast))).toEqual(['Bob']);
    expect(names(pickResponders('"Carol!"', cast))).toEqual(['Carol']);
    expect(names(pickResponders('I agree with Bob.', cast))).toEqual(['Bob']);
  });

  it("matches a possessive like Alice's", () => {
    expect(names(pickResponders("What is Alice's view?", cast))).toEqual(['Alice']);
    expect(names(pickResponders('What is Bob’s view?', cast))).toEqual(['Bob']);
  });

  it('does not match a name inside another word', () => {
    expect(names(pickResponders('Such malice! Bobby and Caroline came.', cast))).toEqual(['Alice', 'Bob', 'Carol']);
    expect(names(pickResponders('Malice only, said Bob', cast))).toEqual(['Bob']);
  });

  it('does not take an email address for a mention', () => {
    expect(names(pickResponders('mail bob@alice.com please', [alice, bob]))).toEqual(['Alice', 'Bob']);
  });

  it('never picks an inactive character, even when mentioned', () => {
    const dave = character('Dave', { active: false, order: 0 });
    expect(names(pickResponders('@Dave and Bob', [...cast, dave]))).toEqual(['Bob']);
    expect(names(pickResponders('Hello', [...cast, dave]))).toEqual(['Alice', 'Bob', 'Carol']);
  });

  it('falls back to every active character when only inactive ones are mentioned', () => {
    const dave = character('Dave', { active: false });
    expect(names(pickResponders('@Dave?', [dave, ...cast]))).toEqual(['Alice', 'Bob', 'Carol']);
  });

  it('picks each character at most once', () => {
    expect(names(pickResponders('Bob bob @BOB', cast))).toEqual(['Bob']);
    // The same character listed twice still answers once.
    expect(names(pickResponders('hi', [alice, alice, bob]))).toEqual(['Alice', 'Bob']);
    expect(names(pickResponders('@Alice', [alice, alice]))).toEqual(['Alice']);
  });

  it('matches multi-word names, whatever the spacing', () => {
    const mj = character('Mary Jane');
    const mary = character('Mary');
    expect(names(pickResponders('Hey mary  jane, you there?', [mary, mj]))).toEqual(['Mary Jane']);
    expect(names(pickResponders('@Mary Jane and Mary', [mary, mj]))).toEqual(['Mary Jane', 'Mary']);
  });

  it('lets a longer name win where a shorter one matches at the same place', () => {
    const al = character('Al');
    const alSmith = character('Al Smith');
    expect(names(pickResponders('Al Smith, hi', [al, alSmith]))).toEqual(['Al Smith']);
    expect(names(pickResponders('Al, hi', [al, alSmith]))).toEqual(['Al']);
  });

  it('does not match a name that is a prefix of a longer word or name', () => {
    const al = character('Al');
    const aliceToo = character('Alice');
    expect(names(pickResponders('Alice, please answer', [al, aliceToo]))).toEqual(['Alice']);
    expect(names(pickResponders('@Al and Alice', [aliceToo, al]))).toEqual(['Al', 'Alice']);
  });

  it('lets an inactive longer name shadow an active shorter one', () => {
    const al = character('Al', { order: 1 });
    const alSmith = character('Al Smith', { active: false });
    const zoe = character('Zoe', { order: 2 });
    // The user addressed Al Smith, who is absent: nobody active is mentioned, so everyone answers.
    expect(names(pickResponders('Al Smith, are you there?', [al, alSmith, zoe]))).toEqual(['Al', 'Zoe']);
    expect(names(pickResponders('Al Smith and Zoe', [al, alSmith, zoe]))).toEqual(['Zoe']);
  });

  it('matches names containing regex-special characters literally', () => {
    const r2 = character('R2-D2');
    const dot = character('Dr. Who');
    const plus = character('C++ Bot');
    const paren = character('Bot (beta)');
    const all = [r2, dot, plus, paren];
    expect(names(pickResponders('hey r2-d2!', all))).toEqual(['R2-D2']);
    expect(names(pickResponders('Dr. Who?', all))).toEqual(['Dr. Who']);
    expect(names(pickResponders('Drx Who', [dot, alice]))).toEqual(['Alice', 'Dr. Who']); // no match → everyone
    expect(names(pickResponders('ask @c++ bot', all))).toEqual(['C++ Bot']);
    expect(names(pickResponders('and bot (beta) too', all))).toEqual(['Bot (beta)']);
  });

  it('matches names in non-Latin scripts as whole words', () => {
    const zoe = character('Zoë');
    const yuki = character('Юки');
    expect(names(pickResponders('zoë?', [zoe, yuki]))).toEqual(['Zoë']);
    expect(names(pickResponders('Привет, Юки!', [zoe, yuki]))).toEqual(['Юки']);
    expect(names(pickResponders('Юкин', [yuki, zoe]))).toEqual(['Zoë', 'Юки']);
  });

  it('ignores characters with blank names', () => {
    const blank = character('  ', { order: 99 });
    expect(names(pickResponders('Alice', [blank, alice]))).toEqual(['Alice']);
  });

  it('returns nothing when no character is active', () => {
    expect(pickResponders('@Alice', [character('Alice', { active: false })])).toEqual([]);
    expect(pickResponders('hi', [])).toEqual([]);
  });

  it('does not reorder or modify the given list', () => {
    const list = [carol, alice, bob];
    pickResponders('hi', list);
    expect(list).toEqual([carol, alice, bob]);
  });
});
