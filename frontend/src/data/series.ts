// Training series: runs built by `attentionviz.build_step` carry their series and step; the app
// scrubs through a series in step order.

import type { RunSummary } from "./types";

/** The runs of `id`'s training series in step order; [] when it is in none. */
export function seriesOf(runs: RunSummary[], id: string): RunSummary[] {
  const run = runs.find((r) => r.id === id);
  if (!run || run.series === null || run.series === undefined) return [];
  return runs.filter((r) => r.series === run.series && r.step !== null).sort((a, b) => (a.step ?? 0) - (b.step ?? 0));
}

/** The run `delta` steps after `id` in its series (before, when negative), or null past either end. */
export function stepFrom(runs: RunSummary[], id: string, delta: number): RunSummary | null {
  const series = seriesOf(runs, id);
  const at = series.findIndex((r) => r.id === id);
  return at < 0 ? null : (series[at + delta] ?? null);
}

/** The runs from `from` to `to` of one series, both included, in walking order; null if not one series. */
export function stepPath(runs: RunSummary[], from: string, to: string): string[] | null {
  const series = seriesOf(runs, from).map((r) => r.id);
  const a = series.indexOf(from);
  const b = series.indexOf(to);
  if (a < 0 || b < 0) return null;
  return a <= b ? series.slice(a, b + 1) : series.slice(b, a + 1).reverse();
}
