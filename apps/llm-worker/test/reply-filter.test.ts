import { describe, expect, it } from 'vitest';
import { ReplyFilter } from '../src/reply-filter.js';

/** Streams `deltas` through a filter for `name`; returns what was let through at each step and in all. */
function run(name: string, deltas: string[]): { steps: string[]; text: string } {
  const f = new ReplyFilter(name);
  const steps = deltas.map((d) => f.push(d));
  steps.push(f.flush());
  return { steps, text: steps.join('') };
}

describe('ReplyFilter: what of a streaming reply is shown and spoken', () => {
  it.each([
    [['Alice: Hello there.', ' Nice day.'], 'Hello there. Nice day.'],
    [['Al', 'ice', ':', ' Hello', ' there.'], 'Hello there.'],
    [['**Ali', 'ce:** Hi.'], 'Hi.'],
    [['**Alice**', ': Hi.'], 'Hi.'],
    [['[Alice] ', 'Hi.'], 'Hi.'],
    [['<think>I should greet.', '</think>Hello from Alice.'], 'Hello from Alice.'],
    [['<thi', 'nk>plan</th', 'ink>', 'Alice: Hi.'], 'Hi.'],
    [['<think>plan</think>', '\n\nHello.'], 'Hello.'],
    [['<THINK>Plan.</THINK>Hi.'], 'Hi.'],
  ])('drops a speaker tag or a reasoning block at the start, even split across deltas: %j', (deltas, expected) => {
    expect(run('Alice', deltas).text).toBe(expected);
  });

  it.each([
    [['Sure. Here it is.']],
    [['Ali', 'ens are real.']],
    [['Alice is my name.']],
    [['Bob: not her tag.']],
    [['I said <think> once.']],
  ])('leaves any other reply as it is: %j', (deltas) => {
    expect(run('Alice', deltas).text).toBe(deltas.join(''));
  });

  it('lets a reply that cannot be a tag through at once, and holds one that might only until it is known', () => {
    expect(run('Alice', ['Sure.', ' Here.']).steps).toEqual(['Sure.', ' Here.', '']);
    expect(run('Alice', ['Al', 'so, ', 'yes.']).steps).toEqual(['', 'Also, ', 'yes.', '']);
  });

  it('a reply that is only reasoning, never closed, shows nothing (the empty reply is reported as such)', () => {
    expect(run('Alice', ['<think>hmm', ' still thinking']).text).toBe('');
  });

  it('counts the reasoning it drops, so that a model that never stops thinking can be cut off', () => {
    const f = new ReplyFilter('Alice');
    for (let i = 0; i < 100; i++) f.push('thinking ');
    expect(f.dropped).toBe(0); // not a reasoning block: let through, nothing dropped
    const g = new ReplyFilter('Alice');
    g.push('<think>');
    for (let i = 0; i < 100; i++) g.push('thinking ');
    expect(g.dropped).toBeGreaterThan(880);
    expect(g.push('</think>Done.')).toBe('Done.');
  });
});
