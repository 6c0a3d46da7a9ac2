import type { Character, HistoryItem } from '@chorus/contracts';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

export interface PromptInput {
  /** Who speaks now. */
  character: Character;
  /** Everyone in the conversation (for the roster line); inactive characters are left out of it. */
  characters: Character[];
  /** Oldest first; includes the current user message and earlier replies of this turn. */
  history: HistoryItem[];
  /** Display name of the user, e.g. 'User'. */
  userName: string;
  /** Keep the newest items within this budget (default 24000); the system prompt is never dropped. */
  maxHistoryChars?: number;
}

type Line = { role: 'user' | 'assistant'; content: string };

/** Stand-ins for a missing user message: some chat templates require the transcript to start and end with one. */
const OPENING = '(The conversation begins.)';
const turnCue = (name: string): string => `(${name}'s turn to speak.)`;

function systemPrompt({ character, characters, userName }: PromptInput): string {
  const others = [userName];
  for (const c of characters) {
    if (c.active && c.id !== character.id && !others.includes(c.name)) others.push(c.name);
  }
  const rules =
    `You are ${character.name} in a group conversation with ${others.join(', ')}. ` +
    `Reply only as ${character.name}, in plain spoken sentences, without prefixing your name.`;
  const own = character.system_prompt.trim();
  return own ? `${own}\n\n${rules}` : rules;
}

/** The speaker's own replies are `assistant` turns; everyone else's are `user` turns tagged with a name,
 *  so the model can tell the user and the other characters apart. */
function toLine(item: HistoryItem, character: Character): Line {
  const own =
    item.role === 'assistant' &&
    (item.character_id !== null ? item.character_id === character.id : item.name === character.name);
  return own ? { role: 'assistant', content: item.content } : { role: 'user', content: `${item.name}: ${item.content}` };
}

export function buildMessages(input: PromptInput): ChatCompletionMessageParam[] {
  const budget = input.maxHistoryChars ?? 24000;
  // Newest first within the budget, stopping at the first item that does not fit (no gaps); the newest
  // item always stays, since it is what the character answers.
  const kept: Line[] = [];
  let used = 0;
  for (let i = input.history.length - 1; i >= 0; i--) {
    const item = input.history[i]!;
    if (!item.content.trim()) continue; // e.g. a reply interrupted before any word: endpoints reject empty turns
    const line = toLine(item, input.character);
    if (kept.length > 0 && used + line.content.length > budget) break;
    used += line.content.length;
    kept.unshift(line);
  }
  // Merge same-role neighbours: several endpoints reject two user (or assistant) messages in a row.
  const lines: Line[] = [];
  for (const line of kept) {
    const last = lines[lines.length - 1];
    if (last && last.role === line.role) last.content += `\n${line.content}`;
    else lines.push({ ...line });
  }
  if (lines[0]?.role === 'assistant') lines.unshift({ role: 'user', content: OPENING });
  if (lines[lines.length - 1]?.role !== 'user') lines.push({ role: 'user', content: turnCue(input.character.name) });
  return [{ role: 'system', content: systemPrompt(input) }, ...lines];
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Removes a leading speaker tag the model may echo ("Alice: ...", "**Alice:** ...", "[Alice] ..."), only for the given name. */
export function stripSpeakerPrefix(text: string, name: string): string {
  const n = name.trim().split(/\s+/).map(escape).join('\\s+');
  if (!n) return text;
  const emph = '[*_]{0,2}';
  // "Alice:" with optional markdown emphasis around the name and/or the colon, or "[Alice]" / "[Alice]:".
  const re = new RegExp(`^\\s*(?:${emph}${n}${emph}\\s*[:：]${emph}|${emph}\\[${n}\\]${emph}\\s*[:：]?)\\s*`, 'iu');
  return text.replace(re, '');
}
