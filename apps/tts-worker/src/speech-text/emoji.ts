/**
 * Emoji, pictographs and emoticons are not read aloud. Runs before NFKC, which would turn some of them
 * into letters ("™" → "TM", "‼" → "!!").
 */

/** Keycaps ("1️⃣", "#⃣"): the base is an ordinary digit or sign, so the whole sequence goes first. */
const KEYCAP = /[0-9#*]\uFE0F?\u20E3/gu;
/** Pictographs, skin tones, flags (regional indicators, tag sequences), ZWJ and variation selectors. */
const PICTOGRAPHIC =
  /[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\u200D\uFE0E\uFE0F\u20E3\u{E0020}-\u{E007F}\u2122\u2120\u00A9\u00AE]+/gu;
/** Text emoticons standing alone: ":)", ";-P", ":D", "<3", "^_^", "xD", and :shortcodes:. */
const EMOTICON =
  /(?<=^|\s)(?:[:;=][-'^]?[()DPpOo3/\\|\][*]+|<\/?3+|\^_*\^|[xX]D+|[-oOTt]_+[-oOTt]|:[a-z][a-z0-9_+-]*:)(?=$|\s|[.,!?])/gu;

export function removeEmoji(s: string): string {
  return s.replace(KEYCAP, ' ').replace(PICTOGRAPHIC, ' ').replace(EMOTICON, ' ');
}
