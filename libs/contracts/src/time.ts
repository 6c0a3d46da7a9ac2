/** Wall-clock ms with sub-ms resolution, comparable across processes on one host. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** Compares Redis stream ids (`ms-seq`) numerically. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const d = Number(am) - Number(bm);
  return d !== 0 ? Math.sign(d) : Math.sign(Number(as) - Number(bs));
}

/** The stream id right after `id`: a cut there cancels the turn `id` and every earlier one, no later one. */
export function nextStreamId(id: string): string {
  const [ms, seq = '0'] = id.split('-');
  return `${ms}-${BigInt(seq) + 1n}`;
}
