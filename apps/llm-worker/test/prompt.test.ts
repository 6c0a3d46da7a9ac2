import type { Character, HistoryItem } from '@chorus/contracts';
import { describe, expect, it } from 'vitest';
import { buildMessages, stripSpeakerPrefix, type PromptInput } from '../src/prompt.js';

function character(id: string, name: string, fields: Partial<Character> = {}): Character {
  return {
    id,
    name,
    system_prompt: `You are ${name}, a test persona.`,
    voice_id: null,
    active: true,
    order: 0,
    created_at: '2024-01-01T00:00:00.000Z',
    updated_at: '2024-01-01T00:00:00.000Z',
    ...fields,
  };
}
const alice = character('a', 'Alice');
const bob = character('b', 'Bob');
const cast = [alice, bob];

let seq = 0;
const user = (content: string, name = 'User'): HistoryItem => ({ id: `m${++seq}`, role: 'user', name, character_id: null, content });
const said = (who: Character, content: string): HistoryItem => ({
  id: `m${++seq}`,
  role: 'assistant',
  name: who.name,
  character_id: who.id,
  content,
});
const build = (input: Partial<PromptInput> & Pick<PromptInput, 'character' | 'history'>) =>
  buildMessages({ characters: cast, userName: 'User', ...input });

describe('buildMessages', () => {
  it("opens with the character's own system prompt and the group-chat instruction", () => {
    const [system] = build({ character: alice, history: [user('Hi')] });
    expect(system).toEqual({
      role: 'system',
      content:
        'You are Alice, a test persona.\n\n' +
        'You are Alice in a group conversation with User, Bob. ' +
        'Reply only as Alice, in plain spoken sentences, without prefixing your name.',
    });
  });

  it('names the user display name and only the other active characters in the roster', () => {
    const carol = character('c', 'Carol', { active: false });
    const dan = character('d', 'Dan');
    const [system] = buildMessages({ character: bob, characters: [alice, bob, carol, dan], history: [], userName: 'Sam' });
    expect(system!.content).toContain('You are Bob in a group conversation with Sam, Alice, Dan. Reply only as Bob,');
  });

  it('uses only the instruction when the character has no system prompt', () => {
    const plain = character('p', 'Plain', { system_prompt: '  ' });
    const [system] = build({ character: plain, history: [user('Hi')] });
    expect(system!.content).toBe(
      'You are Plain in a group conversation with User, Alice, Bob. Reply only as Plain, in plain spoken sentences, without prefixing your name.',
    );
  });

  it("sends the character's own past messages as assistant turns, as-is", () => {
    const messages = build({ character: alice, history: [user('Hi'), said(alice, 'Hello there.'), user('How are you?')] });
    expect(messages.slice(1)).toEqual([
      { role: 'user', content: 'User: Hi' },
      { role: 'assistant', content: 'Hello there.' },
      { role: 'user', content: 'User: How are you?' },
    ]);
  });

  it("shows the second responder the first responder's reply of the same turn", () => {
    const history = [user('Hi both'), said(alice, 'Hi! I am Alice.')];
    const messages = build({ character: bob, history });
    expect(messages.slice(1)).toEqual([{ role: 'user', content: 'User: Hi both\nAlice: Hi! I am Alice.' }]);
  });

  it('merges consecutive user-role items into one message, separated by newlines', () => {
    const history = [user('One'), user('Two'), said(alice, 'A'), said(bob, 'B'), user('Three'), said(alice, 'A2')];
    const messages = build({ character: bob, history });
    expect(messages.slice(1)).toEqual([
      { role: 'user', content: 'User: One\nUser: Two\nAlice: A' },
      { role: 'assistant', content: 'B' },
      { role: 'user', content: 'User: Three\nAlice: A2' },
    ]);
  });

  it('never has two messages of the same role in a row and ends with a user message', () => {
    const history = [said(alice, 'Greetings!'), said(alice, 'Anyone?'), user('Hi'), said(bob, 'Yo'), said(alice, 'Hey')];
    for (const speaker of cast) {
      const roles = build({ character: speaker, history }).map((m) => m.role);
      expect(roles[0]).toBe('system');
      expect(roles[1]).toBe('user');
      expect(roles[roles.length - 1]).toBe('user');
      for (let i = 1; i < roles.length; i++) expect(roles[i]).not.toBe(roles[i - 1]);
    }
  });

  it("appends a neutral cue when the character's own message is the last item", () => {
    const messages = build({ character: alice, history: [user('Hi'), said(alice, 'Hello.')] });
    expect(messages.slice(1)).toEqual([
      { role: 'user', content: 'User: Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: "(Alice's turn to speak.)" },
    ]);
  });

  it("starts with a user message when the history opens with the character's greeting", () => {
    const messages = build({ character: alice, history: [said(alice, 'Welcome!'), user('Thanks')] });
    expect(messages.slice(1)).toEqual([
      { role: 'user', content: '(The conversation begins.)' },
      { role: 'assistant', content: 'Welcome!' },
      { role: 'user', content: 'User: Thanks' },
    ]);
  });

  it('is valid with an empty history', () => {
    expect(build({ character: alice, history: [] }).map((m) => m.role)).toEqual(['system', 'user']);
  });

  it('skips empty messages, such as a reply interrupted before any word', () => {
    const messages = build({ character: alice, history: [user('Hi'), said(alice, ''), said(bob, '  '), user('Hello?')] });
    expect(messages.slice(1)).toEqual([{ role: 'user', content: 'User: Hi\nUser: Hello?' }]);
  });

  it('tells own messages apart by character id, not by name', () => {
    const otherAlice = character('a2', 'Alice');
    const messages = build({ character: alice, history: [user('Hi'), said(otherAlice, 'I am the other Alice.')] });
    expect(messages.slice(1)).toEqual([{ role: 'user', content: 'User: Hi\nAlice: I am the other Alice.' }]);
  });

  it('treats a user named like the character as someone else', () => {
    const messages = build({ character: alice, history: [user('I am Alice too', 'Alice')] });
    expect(messages.slice(1)).toEqual([{ role: 'user', content: 'Alice: I am Alice too' }]);
  });

  it('keeps the newest history within maxHistoryChars and never drops the system prompt', () => {
    const history = [user('a'.repeat(50)), said(alice, 'b'.repeat(50)), user('c'.repeat(20)), said(bob, 'd'.repeat(20))];
    const messages = build({ character: alice, history, maxHistoryChars: 60 });
    expect(messages[0]!.role).toBe('system');
    // "User: ccc…" (26) + "Bob: ddd…" (25) fit in 60; Alice's 50 chars would not.
    expect(messages.slice(1)).toEqual([{ role: 'user', content: `User: ${'c'.repeat(20)}\nBob: ${'d'.repeat(20)}` }]);
  });

  it('drops older items rather than leaving a gap in the transcript', () => {
    const history = [user('old'), said(bob, 'x'.repeat(100)), user('new')];
    const messages = build({ character: alice, history, maxHistoryChars: 20 });
    expect(messages.slice(1)).toEqual([{ role: 'user', content: 'User: new' }]);
  });

  it('keeps the newest message even when it alone exceeds the budget', () => {
    const messages = build({ character: alice, history: [user('earlier'), user('y'.repeat(500))], maxHistoryChars: 10 });
    expect(messages.slice(1)).toEqual([{ role: 'user', content: `User: ${'y'.repeat(500)}` }]);
  });

  it('keeps everything by default when the history is small', () => {
    const history = Array.from({ length: 31 }, (_, i) => (i % 2 ? said(alice, `reply ${i}`) : user(`question ${i}`)));
    const messages = build({ character: alice, history });
    expect(messages).toHaveLength(1 + 31);
    expect(messages[1]).toEqual({ role: 'user', content: 'User: question 0' });
  });

  it('does not modify its input', () => {
    const history = [user('One'), user('Two')];
    const copy = structuredClone(history);
    build({ character: alice, history });
    expect(history).toEqual(copy);
  });
});

describe('stripSpeakerPrefix', () => {
  it.each([
    ['Alice: Hello there.', 'Hello there.'],
    ['  alice:Hello there.', 'Hello there.'],
    ['**Alice:** Hello there.', 'Hello there.'],
    ['**Alice**: Hello there.', 'Hello there.'],
    ['*Alice:* Hello there.', 'Hello there.'],
    ['__Alice__: Hello there.', 'Hello there.'],
    ['[Alice] Hello there.', 'Hello there.'],
    ['[Alice]: Hello there.', 'Hello there.'],
    ['**[Alice]** Hello there.', 'Hello there.'],
    ['Alice : Hello there.', 'Hello there.'],
    ['Alice：Hello there.', 'Hello there.'],
    ['Alice:\nHello there.', 'Hello there.'],
  ])('removes the speaker tag from %j', (input, expected) => {
    expect(stripSpeakerPrefix(input, 'Alice')).toBe(expected);
  });

  it.each([
    ['Alice is my name.'],
    ['Alice, you asked me?'],
    ['Bob: Hello there.'],
    ['I said Alice: hello.'],
    ['Alicia: Hello there.'],
    ['Hello there.'],
  ])('leaves %j unchanged', (input) => {
    expect(stripSpeakerPrefix(input, 'Alice')).toBe(input);
  });

  it('removes only one tag', () => {
    expect(stripSpeakerPrefix('Alice: Alice: hi', 'Alice')).toBe('Alice: hi');
  });

  it('handles multi-word names and regex-special characters', () => {
    expect(stripSpeakerPrefix('Mary Jane: Hi', 'Mary Jane')).toBe('Hi');
    expect(stripSpeakerPrefix('**Dr. Who:** Hi', 'Dr. Who')).toBe('Hi');
    expect(stripSpeakerPrefix('[C++ Bot] Hi', 'C++ Bot')).toBe('Hi');
    expect(stripSpeakerPrefix('Drx Who: Hi', 'Dr. Who')).toBe('Drx Who: Hi');
  });

  it('returns an empty string when the text is only the tag', () => {
    expect(stripSpeakerPrefix('Alice:', 'Alice')).toBe('');
  });

  it('leaves the text unchanged for a blank name', () => {
    expect(stripSpeakerPrefix(': hi', '  ')).toBe(': hi');
  });
});
