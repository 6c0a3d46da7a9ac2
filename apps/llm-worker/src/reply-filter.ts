import { stripSpeakerPrefix } from './prompt.js';

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/**
 * Cleans a reply as it streams, before it is shown or spoken: a leading `<think>…</think>` block (reasoning models
 * that put their reasoning in the content) is dropped, and so is a speaker tag the model may echo ("Alice: …",
 * "**Alice:** …", "[Alice] …"), which the character would otherwise say aloud. The start is held back only while it
 * could still be either; a reply that starts otherwise passes at once. The text let through is well-formed UTF-16:
 * a surrogate pair split across deltas is joined again, a lone surrogate (which Redis's JSON, the history, and
 * clients refuse) replaced.
 */
export class ReplyFilter {
  /** A high surrogate that ended the last delta, waiting for its pair. */
  private pending = '';
  private head = '';
  private decided = false;
  private thinking = false;
  private trimming = false;
  /** Characters of reasoning dropped so far (a reply may not think without end either). */
  dropped = 0;

  constructor(private readonly name: string) {}

  /** The part of the reply that can be shown now ('' while its start is undecided). */
  push(raw: string): string {
    let delta = this.pending + raw;
    this.pending = isHighSurrogate(delta.charCodeAt(delta.length - 1)) ? delta.slice(-1) : '';
    delta = (this.pending ? delta.slice(0, -1) : delta).toWellFormed();
    if (this.decided) return this.trimming ? this.trim(delta) : delta;
    this.head += delta;
    for (;;) {
      if (this.thinking) {
        const end = this.head.toLowerCase().indexOf(THINK_CLOSE);
        // Only the tail that may hold a split closing tag is kept: the reasoning itself is dropped (and counted).
        if (end < 0) {
          const keep = THINK_CLOSE.length - 1;
          this.dropped += Math.max(0, this.head.length - keep);
          this.head = this.head.slice(-keep);
          return '';
        }
        this.dropped += end;
        this.head = this.head.slice(end + THINK_CLOSE.length);
        this.thinking = false;
        this.trimming = true; // the blank lines after the block
      }
      const t = this.head.trimStart();
      if (t.toLowerCase().startsWith(THINK_OPEN)) {
        this.head = t.slice(THINK_OPEN.length);
        this.thinking = true;
        continue;
      }
      if (!t || (t.length < THINK_OPEN.length && THINK_OPEN.startsWith(t.toLowerCase())) || this.couldBeTag(t)) return '';
      return this.decide();
    }
  }

  /** What is still held when the reply ends. */
  flush(): string {
    if (this.decided) return '';
    if (this.thinking) {
      this.decided = true;
      return '';
    }
    return this.decide();
  }

  private decide(): string {
    this.decided = true;
    const out = stripSpeakerPrefix(this.head, this.name);
    // After a tag, the space before the words that follow it may come in the next delta.
    this.trimming ||= out !== this.head;
    this.head = '';
    return this.trimming ? this.trim(out) : out;
  }

  private trim(text: string): string {
    const out = text.trimStart();
    if (out) this.trimming = false;
    return out;
  }

  /** Whether `t` may still grow into the character's speaker tag (the name, maybe emphasised, not yet its colon). */
  private couldBeTag(t: string): boolean {
    const rest = t.replace(/^[*_[]{1,3}/, '').toLowerCase();
    const name = this.name.trim().toLowerCase();
    if (!name) return false;
    if (rest.length <= name.length) return name.startsWith(rest);
    return rest.startsWith(name) && /^[*_\]]{0,3}\s*$/.test(rest.slice(name.length));
  }
}

/** `text` cut to at most `max` UTF-16 units, never between the two halves of a surrogate pair. */
export function cutAt(text: string, max: number): string {
  if (text.length <= max) return text;
  return text.slice(0, max > 0 && isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max);
}
