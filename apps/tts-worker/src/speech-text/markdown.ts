/**
 * Markdown and HTML → plain text. Structure that carries no words (fences, rules, table rules, bullets,
 * heading marks) goes; the words inside links, emphasis and headings stay.
 */

const ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', ndash: '–', mdash: '—', hellip: '…',
  lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', laquo: '«', raquo: '»', deg: '°', euro: '€', pound: '£',
  cent: '¢', times: '×', divide: '÷', copy: '©', reg: '®', trade: '™', middot: '·', bull: '•', shy: '',
};

/** Decodes the HTML entities an LLM or a pasted snippet may contain: named (a small table) and numeric. */
export function decodeEntities(s: string): string {
  return s.replace(/&(?:#(\d{1,7})|#x([0-9a-f]{1,6})|([a-z]{2,8}));/gi, (all, dec?: string, hex?: string, name?: string) => {
    if (name !== undefined) return ENTITIES[name.toLowerCase()] ?? all;
    const code = dec !== undefined ? Number(dec) : parseInt(hex!, 16);
    return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : ' ';
  });
}

/** Fenced code blocks are dropped whole; an unclosed fence drops everything after it (code is worse to hear
 *  than a missing tail). Inline code keeps its content only when it reads like a word or two. */
export function stripCode(s: string): string {
  let out = s.replace(/^[ \t]*(`{3,}|~{3,})[^\n]*\n[\s\S]*?^[ \t]*\1[`~]*[ \t]*$/gm, ' ');
  out = out.replace(/^[ \t]*(?:`{3,}|~{3,})[\s\S]*$/m, ' ');
  return out.replace(/(`+)([^`]+?)\1(?!`)/g, (_all, _ticks: string, code: string) => {
    const c = code.trim();
    return c.length <= 32 && c.split(/\s+/).length <= 3 && /^[\p{L}\p{N}][\p{L}\p{N}' _-]*$/u.test(c) ? c : ' ';
  });
}

/** Images, links, autolinks, footnote marks and HTML tags. Link targets are dropped; their text stays. */
export function stripInlineMarkup(s: string): string {
  return s
    .replace(/!\[[^\]\n]*\]\([^)\n]*\)/g, ' ') // ![alt](src)
    .replace(/!\[[^\]\n]*\]\[[^\]\n]*\]/g, ' ') // ![alt][ref]
    .replace(/\[\^[^\]\n]+\]/g, ' ') // footnote [^1]
    .replace(/\[([^\]\n]+)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+"[^"\n]*")?\)/g, '$1') // [text](url "title")
    .replace(/\[([^\]\n]+)\]\[[^\]\n]*\]/g, '$1') // [text][ref]
    .replace(/^\s{0,3}\[[^\]\n]+\]:\s+\S+.*$/gm, ' ') // [ref]: url
    .replace(/<((?:https?|ftp):\/\/[^\s<>]+|[^\s<>@]+@[^\s<>@]+)>/gi, ' $1 ') // <https://…>, <a@b.c>
    .replace(/<!--[\s\S]*?(?:-->|$)/g, ' ')
    .replace(/<\/?[a-z][a-z0-9-]*(?:\s[^<>]*)?\/?>/gi, ' ');
}

const HR = /^\s*([-*_])(?:\s*\1){2,}\s*$/;
const TABLE_RULE = /^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/;
const BULLET = /^\s*(?:[-*+•‣◦▪]|\d{1,3}[.)])\s+/;
const ENDS_IN_PUNCT = /[.!?:;,…]["'”’)\]]*$/u;

/**
 * Block structure, line by line, joined into one line. Headings, list items and table rows are units of
 * their own, so they end with a period (a pause) when they have no punctuation; so does a paragraph.
 */
export function stripBlocks(s: string): string {
  const lines = s.split('\n');
  const out: string[] = [];
  lines.forEach((raw, i) => {
    if (HR.test(raw) || TABLE_RULE.test(raw)) return;
    let line = raw.replace(/^\s*(?:>\s?)+/, '');
    let unit = false;
    const heading = HEADING.exec(line);
    if (heading) {
      line = heading[1]!;
      unit = true;
    } else if (BULLET.test(line)) {
      line = line.replace(BULLET, '');
      unit = true;
    }
    if (/^\s*\|.*\|\s*$/.test(line)) {
      line = line.split('|').map((c) => c.trim()).filter(Boolean).join(', ');
      unit = true;
    }
    line = line.trim();
    if (!line) return;
    const paragraphEnd = i + 1 < lines.length && !lines[i + 1]!.trim();
    if ((unit || paragraphEnd) && !ENDS_IN_PUNCT.test(line)) line += '.';
    out.push(line);
  });
  return out.join(' ');
}

/** Bold, underline and bold-italic are unwrapped; `_x_` too, but never inside snake_case; struck text goes.
 *  Single-asterisk spans are left for the stage-direction rule. */
export function unwrapEmphasis(s: string): string {
  return s
    .replace(/~~(?=\S)[^~\n]*?~~/g, ' ')
    .replace(/\*\*\*(?=\S)([^*\n]*?\S)\*\*\*/g, '$1')
    .replace(/(\*\*|__)(?=\S)([^\n]*?\S)\1/g, '$2')
    .replace(/(?<![\p{L}\p{N}_])_(?=\S)([^_\n]*?\S)_(?![\p{L}\p{N}_])/gu, '$1');
}
