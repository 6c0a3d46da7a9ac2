import { CharacterCreate, LIMITS, nestedDeeper, VoiceCreate } from '@chorus/contracts';
import { describe, expect, it } from 'vitest';

/** `levels` objects inside each other, the outermost included. */
const nest = (levels: number): Record<string, unknown> => {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) v = { a: v };
  return v;
};

describe('free-form JSON has a bounded depth', () => {
  it('counts objects and arrays alike, the outer record included', () => {
    expect(nestedDeeper(nest(3), 3)).toBe(false);
    expect(nestedDeeper(nest(4), 3)).toBe(true);
    expect(nestedDeeper({ a: [[['leaf']]] }, 3)).toBe(true);
    expect(nestedDeeper({ a: 'x', b: 1, c: null }, 1)).toBe(false);
  });

  it('extensions and params accept the limit and refuse one level more, and very deep input is refused without a stack overflow', () => {
    expect(CharacterCreate.safeParse({ name: 'A', extensions: nest(LIMITS.jsonDepth) }).success).toBe(true);
    const over = CharacterCreate.safeParse({ name: 'A', extensions: nest(LIMITS.jsonDepth + 1) });
    expect(over.success).toBe(false);
    expect(over.error?.issues[0]?.message).toMatch(/nested deeper than 32 levels/);
    expect(VoiceCreate.safeParse({ name: 'V', engine: 'flite', params: nest(100_000) }).success).toBe(false);
  });
});
