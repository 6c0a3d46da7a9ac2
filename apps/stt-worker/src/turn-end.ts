// Words a sentence can hardly end on; kept short, since "what time is it", "where are you from" do end.
const CONTINUES = new Set(
  "a an the and or but because if than my your our their its um uh er erm hmm i i'm i'd we're you're they're let's".split(' '),
);
const GREETINGS = new Set('hey hi hello ok okay oh yo dear please'.split(' '));

/**
 * Whether fixed text sounds like a finished turn, so a short silence may end it (VAD_EARLY_END_MS). A
 * sentence that stops on a word that needs a continuation ("… and", "… the", "um") or that is only a
 * greeting and names ("hey Alice") more likely is a pause to think: those wait for the VAD's whole end
 * silence instead. Lowercase words, as the engines give them; English only, like the embedded engine.
 */
export function soundsFinished(text: string, names: readonly string[] = []): boolean {
  const words = text.toLowerCase().match(/[a-z']+/g) ?? [];
  const last = words.at(-1);
  if (!last || CONTINUES.has(last)) return false;
  const named = new Set(names.flatMap((n) => n.toLowerCase().match(/[a-z']+/g) ?? []));
  return !words.every((w) => named.has(w) || GREETINGS.has(w));
}
