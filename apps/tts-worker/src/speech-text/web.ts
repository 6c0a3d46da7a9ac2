/**
 * URLs, e-mail addresses, @mentions and #hashtags. A URL is read as its host ("example dot com"): paths
 * and queries are noise when heard.
 */

/** Hosts and mail parts are read label by label: "a.b-c" → "a dot b dash c". */
function speakDotted(s: string): string {
  return s
    .split('.')
    .filter(Boolean)
    .map((label) => label.replace(/-/g, ' dash ').replace(/_/g, ' underscore ').replace(/\+/g, ' plus '))
    .join(' dot ');
}

export function speakHost(host: string): string {
  return speakDotted(host.toLowerCase().replace(/^www\d?\./, ''));
}

const EMAIL = /(?<![\p{L}\p{N}._%])([\p{L}\p{N}][\p{L}\p{N}._%+-]*)@([\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,})(?![\p{L}\p{N}-])/gu;
const URL_WITH_SCHEME = /\b(?:https?|ftp):\/\/[^\s<>"'`]+|\bwww\d?\.[^\s<>"'`]+/gi;
/** Bare domains only with TLDs that rarely end a word ("Node.js" stays, "example.com" is a domain). */
const BARE_DOMAIN =
  /(?<![\p{L}\p{N}@./-])((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:com|org|net|io|dev|ai|app|edu|gov|co\.uk|uk|de|fr|info|tv|ca|xyz|gg|ly))(?:\/[^\s]*)?(?![\p{L}\p{N}-])/gu;
const TRAILING = /[.,;:!?'")\]]+$/;

function speakUrl(url: string): string {
  const trailing = TRAILING.exec(url)?.[0] ?? '';
  const bare = url.slice(0, url.length - trailing.length);
  const host = bare
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/^[^/?#@]*@/, '') // user:password@
    .split(/[/?#:]/)[0]!;
  return ` ${speakHost(host)}${trailing} `;
}

export function speakWeb(s: string): string {
  return s
    .replace(URL_WITH_SCHEME, speakUrl)
    .replace(EMAIL, (_all, local: string, host: string) => ` ${speakDotted(local)} at ${speakHost(host)} `)
    .replace(BARE_DOMAIN, (all) => speakUrl(all))
    .replace(/(?<![\p{L}\p{N}])@(\p{L}[\p{L}\p{N}_]*)/gu, '$1') // @Name → Name
    .replace(/(?<![\p{L}\p{N}&])#(\d+)\b/gu, 'number $1') // #1 → number 1
    .replace(/(?<![\p{L}\p{N}&])#(\p{L}[\p{L}\p{N}_]*)/gu, (_all, tag: string) =>
      // #ThrowbackThursday → Throwback Thursday
      tag.replace(/(\p{Ll})(?=\p{Lu})/gu, '$1 '),
    );
}
