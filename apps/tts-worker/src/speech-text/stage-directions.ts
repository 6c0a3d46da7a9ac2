/**
 * Stage directions of roleplay chat: `*smiles*`, `*waves hand*`, `(laughs)`, `[sighs]`.
 * 'skip' drops them, 'speak' keeps their words as plain text. Other brackets are asides and become
 * commas, which is how a parenthesis sounds.
 */

export type StageDirectionMode = 'skip' | 'speak';

/** A short action: at most five words of letters, no digits and no sentence punctuation inside. */
function isAction(content: string): boolean {
  const c = content.trim();
  return /^\p{L}[\p{L}\p{M}' -]*$/u.test(c) && c.split(/\s+/).length <= 5;
}

function direction(content: string, mode: StageDirectionMode): string {
  // Commas around spoken directions keep them apart from the words around them; cleanup merges extras.
  return mode === 'skip' ? ' ' : ` , ${content.trim()} , `;
}

export function handleStageDirections(s: string, mode: StageDirectionMode): string {
  let out = s.replace(/\*(?!\s)([^*\n]+?)(?<!\s)\*/g, (_all, content: string, offset: number, whole: string) => {
    // A single word inside a clause ("I *really* mean it") is markdown emphasis, not an action.
    const before = whole.slice(0, offset);
    const after = whole.slice(offset + content.length + 2);
    if (!/\s/.test(content) && /\p{L}\s+$/u.test(before) && /^\s+\p{Ll}/u.test(after)) return content;
    return direction(content, mode);
  });
  out = out.replace(/(\p{L})\((\p{L}{1,3})\)/gu, '$1$2'); // "friend(s)" → "friends"
  out = out.replace(/\[([^[\]\n]*)\]/g, (_all, content: string) => {
    if (/^\s*\^?\d+\s*$/.test(content) || !content.trim()) return ' '; // citation marks [1]
    return isAction(content) ? direction(content, mode) : ` , ${content} , `;
  });
  // Innermost first, so nested parentheses unwind one level per pass.
  for (let i = 0; i < 3; i++) {
    out = out.replace(/\(([^()\n]*)\)(?=(\s?\d)?)/g, (all, content: string, digitAfter?: string) => {
      if (digitAfter && /^\d{1,4}$/.test(content)) return all; // area code of "(555) 123-4567"
      if (!content.trim()) return ' ';
      // Parenthesised actions are lowercase ("(laughs)"); "(Paris)" is an aside.
      return isAction(content) && /^\s*\p{Ll}/u.test(content) ? direction(content, mode) : ` , ${content} , `;
    });
  }
  return out;
}
