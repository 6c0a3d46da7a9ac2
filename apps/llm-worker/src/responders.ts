import type { Character } from '@chorus/contracts';

/** Escapes a name for a RegExp; inner whitespace matches any run of whitespace ("Mary  Jane"). */
function namePattern(name: string): string {
  return name
    .split(/\s+/)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('\\s+');
}

/** Letters, digits and `_` continue a word. A name glued to `@` or to `.domain` is part of an address
 *  ("bob@alice.com" mentions nobody); a leading `@` only counts when it starts the mention. */
const WORD = '[\\p{L}\\p{M}\\p{N}_]';
const BEFORE = `(?<!${WORD}|@)`;
const AFTER = `(?!${WORD}|@|\\.${WORD})`;

function byOrder(a: Character, b: Character): number {
  return a.order - b.order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Who answers a user turn: active characters mentioned as `@Name` or the bare name as a whole word
 *  (case-insensitive, multi-word names, names with regex-special chars, possessives like "Alice's"),
 *  in order of first mention; none mentioned → every active character in `order` (then name).
 *  Inactive characters never answer, even when mentioned. Each character at most once. */
export function pickResponders(text: string, characters: Character[]): Character[] {
  // Every mention of every named character, inactive ones included: "Al Smith" (inactive) must still
  // shadow "Al" at the same place, since the user meant Al Smith.
  const mentions: { start: number; end: number; character: Character }[] = [];
  for (const character of characters) {
    const name = character.name.trim();
    if (!name) continue;
    const re = new RegExp(`${BEFORE}@?${namePattern(name)}${AFTER}`, 'giu');
    for (const m of text.matchAll(re)) mentions.push({ start: m.index, end: m.index + m[0].length, character });
  }
  // Leftmost-longest: where two names match at one place the longer wins; overlapped matches drop out.
  mentions.sort((a, b) => a.start - b.start || b.end - a.end);
  const picked: Character[] = [];
  const seen = new Set<string>();
  let covered = 0;
  for (const m of mentions) {
    if (m.start < covered) continue;
    covered = m.end;
    if (!m.character.active || seen.has(m.character.id)) continue;
    seen.add(m.character.id);
    picked.push(m.character);
  }
  if (picked.length > 0) return picked;

  const everyone: Character[] = [];
  for (const c of [...characters].sort(byOrder)) {
    if (c.active && !seen.has(c.id)) {
      seen.add(c.id);
      everyone.push(c);
    }
  }
  return everyone;
}
