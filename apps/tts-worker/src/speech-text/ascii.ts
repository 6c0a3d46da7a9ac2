/**
 * ASCII folding for engines that only know English letters (flite): "café" → "cafe", "Straße" → "Strasse".
 * Letters with no ASCII reading are dropped rather than sent as bytes the engine would mangle.
 */

const SPECIAL: Record<string, string> = {
  ß: 'ss', ẞ: 'SS', æ: 'ae', Æ: 'AE', œ: 'oe', Œ: 'OE', ø: 'o', Ø: 'O', đ: 'd', Đ: 'D', ł: 'l', Ł: 'L',
  þ: 'th', Þ: 'Th', ð: 'd', Ð: 'D', ı: 'i',
};

export function foldToAscii(s: string): string {
  return s
    .replace(/[ßẞæÆœŒøØđĐłŁþÞðÐı]/g, (c) => SPECIAL[c] ?? c)
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/[^\x20-\x7E]+/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
}
