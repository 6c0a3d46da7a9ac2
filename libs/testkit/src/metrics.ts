/**
 * A value from an app's Prometheus `/metrics`: the sum of the samples of `name` whose labels include `labels`
 * (all of its samples when omitted); 0 when there are none.
 */
export async function metricValue(baseUrl: string, name: string, labels?: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels && Object.entries(labels).some(([k, v]) => have[k] !== v)) continue;
    sum += Number(m[3]);
  }
  return sum;
}
