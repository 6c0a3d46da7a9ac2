/**
 * Streaming sentence splitter: turns LLM text deltas into sentences for TTS as early as it is safe.
 *
 * Boundaries come from ICU (`Intl.Segmenter`, granularity 'sentence'). ICU decides a break after `.`
 * by looking ahead (SB8: no break when a lowercase letter follows, `3.` + `5`, `. (h`…), so a break
 * seen at the end of the buffer is provisional: we release a sentence only once a letter or a line
 * break has arrived after it, which settles every ICU lookahead rule. Node 20's ICU ignores the
 * `-u-ss-standard` abbreviation suppressions (the locale resolves to plain 'en'), so segments that end
 * in a known abbreviation or an initial are merged with the next one here.
 */

export interface SentenceSplitterOptions {
  /** Release the first clause of a message early at `,` `;` `:` ` — ` when it has at least this many chars (default 12)... */
  firstClauseMinChars?: number;
  /** ...and at most this many words; a message whose first clause is longer just waits for the sentence end (default 12). */
  firstClauseMaxWords?: number;
  /** Segmenter locale (default 'en'). */
  locale?: string;
}

/** Abbreviations that (almost) never end a sentence; compared lowercased, without the final dot. */
const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'mx', 'dr', 'prof', 'st', 'mt', 'ft', 'jr', 'sr', 'sgt', 'capt', 'col', 'gen',
  'lt', 'cmdr', 'rev', 'hon', 'gov', 'sen', 'rep', 'pres', 'vs', 'e.g', 'i.e', 'cf', 'approx', 'fig',
]);
/** Only an abbreviation before a number ("No. 5"); otherwise a word that often ends a sentence. */
const NUMBER_ABBREVIATIONS = new Set(['no', 'nos', 'vol', 'pp', 'ch', 'art']);

/** Characters after which ICU always breaks (SB4), so the boundary is certain at once. */
const LINE_END = /[\n\r\u0085\u2028\u2029]$/;
/** A letter or line break after a boundary settles ICU's lookahead for it. */
const SETTLES = /[\p{L}\n\r\u0085\u2028\u2029]/u;
/** Clause punctuation followed by whitespace (so "3,000" and "10:30" never count); dashes need spaces around. */
const CLAUSE = /[,;:](?=\s)|\s[—–-](?=\s)/g;

const segmenters = new Map<string, Intl.Segmenter>();
function segmenter(locale: string): Intl.Segmenter {
  let s = segmenters.get(locale);
  if (!s) segmenters.set(locale, (s = new Intl.Segmenter(locale, { granularity: 'sentence' })));
  return s;
}

/** Whether ICU's break after `seg` is a false one: an abbreviation, an initial ("J.", "U.S."), a list number,
 *  or `?`/`!` followed by lowercase (ICU breaks `"Is it?" she asked`; sentences rarely start in lowercase). */
function glueToNext(seg: string, next: string): boolean {
  if (LINE_END.test(seg)) return false; // a line break is a real end, whatever precedes it
  if (/[?!]['"”’)\]]*\s*$/.test(seg) && /^['"“‘(\[]*\p{Ll}/u.test(next)) return true;
  const body = seg.trimEnd();
  if (/^[(\[]?\d{1,3}[.)]$/.test(body.trimStart())) return true; // "1. " alone: keep the marker with its item
  const m = /(?:^|[^\p{L}\p{N}])(\p{L}[\p{L}.]*)\.$/u.exec(body);
  if (!m) return false;
  const word = m[1]!;
  const lower = word.toLowerCase();
  if (ABBREVIATIONS.has(lower)) return true;
  if (NUMBER_ABBREVIATIONS.has(lower)) return /^\s*\d/.test(next);
  const last = word.slice(word.lastIndexOf('.') + 1);
  return /^\p{Lu}$/u.test(last); // "J. R. R. Tolkien", "the U.S. Army"
}

export class SentenceSplitter {
  private buffer = '';
  /** Nothing of the current message released yet (the first clause may go early). */
  private first = true;
  private readonly minChars: number;
  private readonly maxWords: number;
  private readonly seg: Intl.Segmenter;

  constructor(options: SentenceSplitterOptions = {}) {
    this.minChars = options.firstClauseMinChars ?? 12;
    this.maxWords = options.firstClauseMaxWords ?? 12;
    this.seg = segmenter(options.locale ?? 'en');
  }

  /** Feed a delta; returns the sentences (trimmed, non-empty) now complete. */
  push(delta: string): string[] {
    this.buffer += delta;
    return this.drain(false);
  }

  /** End of stream: returns whatever remains, and readies the splitter for a new message. */
  flush(): string[] {
    const out = this.drain(true);
    this.buffer = '';
    this.first = true;
    return out;
  }

  private drain(final: boolean): string[] {
    const out: string[] = [];
    const emit = (end: number) => {
      const text = this.buffer.slice(0, end).trim();
      this.buffer = this.buffer.slice(end);
      if (text) {
        out.push(text);
        this.first = false;
      }
    };
    // Re-segment after each cut: a cut is at a boundary (or after a clause's punctuation and space),
    // outside any ICU context, so the rest segments as it would have in place.
    for (;;) {
      const segs = this.segments();
      const seg = segs[0];
      if (seg === undefined) break;
      if (this.first) {
        const end = this.firstClauseEnd(seg);
        if (end > 0) {
          emit(end);
          continue;
        }
      }
      // A segment followed by another ends at a boundary, certain once its lookahead is settled;
      // the last one is complete only when it ends in a line break (or at the end of the stream).
      const certain = final || (segs.length === 1 ? LINE_END.test(seg) : SETTLES.test(this.buffer.slice(seg.length)));
      if (!certain) break;
      emit(seg.length);
    }
    return out;
  }

  /** ICU segments of the buffer, with false breaks (abbreviations, initials, list numbers) glued back. */
  private segments(): string[] {
    const raw = Array.from(this.seg.segment(this.buffer), (s) => s.segment);
    const merged: string[] = [];
    for (const s of raw) {
      const prev = merged[merged.length - 1];
      if (prev !== undefined && glueToNext(prev, s)) merged[merged.length - 1] = prev + s;
      else merged.push(s);
    }
    return merged;
  }

  /** End offset of the first clause of `sentence` (a prefix of the buffer) when it may go early, else 0. */
  private firstClauseEnd(sentence: string): number {
    for (const m of sentence.matchAll(CLAUSE)) {
      const end = m.index + m[0].length;
      const clause = sentence.slice(0, end).trim();
      if (clause.length < this.minChars) continue;
      // Longer clauses only get longer: past the word limit, wait for the sentence end instead.
      return clause.split(/\s+/).length <= this.maxWords ? end : 0;
    }
    return 0;
  }
}
