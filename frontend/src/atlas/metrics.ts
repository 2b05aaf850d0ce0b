// The head metrics the atlas can colour, sort and filter by: their labels and what they measure
// (the formulas are in docs/guide.md). Pure: reading a metrics table and describing a head.

import type { HeadMapData, MetricsTable } from "../data/types";
import { formatValue } from "./scale";

export const METRIC_INFO: Record<string, { label: string; description: string }> = {
  entropy: { label: "entropy", description: "Attention entropy of a query row, in nats (low: focused)." },
  distance: { label: "distance", description: "Mean distance from a query to the keys it attends to, in positions." },
  previous: { label: "previous token", description: "Attention to the token just before (previous-token heads)." },
  next: { label: "next token", description: "Attention to the token just after." },
  self: { label: "self", description: "Attention to the query's own token." },
  first: { label: "first token", description: "Attention to the first token (the attention sink)." },
  sparsity: { label: "keys for 90%", description: "Keys holding 90% of a query's attention, on average." },
  induction: {
    label: "induction",
    description: "On the probes (random tokens repeated): attention from the second copy to the token after its first occurrence.",
  },
  duplicate: { label: "duplicate token", description: "On the probes: attention from the second copy to the token's first occurrence." },
  importance: { label: "importance", description: "Rise in the model's loss when the head's output is replaced by its mean." },
  q_norm: { label: "query norm", description: "Mean length of the head's query vectors." },
  k_norm: { label: "key norm", description: "Mean length of its KV group's key vectors." },
  gap: { label: "norm gap", description: "Query norm minus key norm." },
};

export function metricLabel(column: string): string {
  return METRIC_INFO[column]?.label ?? column;
}

/** Column `column` of a metrics table as a function of (layer, head); NaN where missing. */
export function metricOf(table: MetricsTable, column: string): (layer: number, head: number) => number {
  const c = table.columns.indexOf(column);
  const width = table.columns.length;
  return (layer, head) => (c < 0 ? Number.NaN : table.values[(layer * table.heads + head) * width + c]);
}

/** Columns that hold a value for at least one head. */
export function presentColumns(columns: string[], values: Float32Array, rows: number): string[] {
  return columns.filter((_, c) => {
    for (let r = 0; r < rows; r++) if (Number.isFinite(values[r * columns.length + c])) return true;
    return false;
  });
}

/**
 * The head's strongest metrics: those where it ranks highest among the heads given (in the top
 * 20%, or first), as "induction 0.98 (top 1%)" lines, at most `k`.
 */
export function strongest(values: Float32Array, columns: string[], rows: number, row: number, k = 3): string[] {
  const width = columns.length;
  const found: { column: string; share: number; value: number }[] = [];
  columns.forEach((column, c) => {
    if (column === "q_norm" || column === "k_norm" || column === "gap") return;
    const value = values[row * width + c];
    if (!Number.isFinite(value)) return;
    let above = 0;
    let count = 0;
    for (let r = 0; r < rows; r++) {
      const v = values[r * width + c];
      if (!Number.isFinite(v)) continue;
      count++;
      if (v > value) above++;
    }
    const share = (above + 1) / count;
    if (share <= 0.2 || above === 0) found.push({ column, share, value });
  });
  return found
    .sort((a, b) => a.share - b.share)
    .slice(0, k)
    .map((f) => `${metricLabel(f.column)} ${formatValue(f.value)} (top ${Math.max(1, Math.round(100 * f.share))}%)`);
}

/** Lines for a Matrix cell's tooltip: the chosen metric first, then the others the head has. */
export function metricLines(table: MetricsTable, layer: number, head: number, chosen: string): string[] {
  const lines: string[] = [];
  const order = [chosen, ...table.columns.filter((c) => c !== chosen && c in METRIC_INFO)];
  for (const column of order) {
    if (!column) continue;
    const v = metricOf(table, column)(layer, head);
    if (Number.isFinite(v)) lines.push(`${metricLabel(column)} ${formatValue(v)}`);
    if (lines.length >= 7) break;
  }
  return lines;
}

/** The head map's value of column `column` at point i (NaN where missing). */
export function mapValue(map: HeadMapData, column: string, i: number): number {
  const c = map.columns.indexOf(column);
  return c < 0 ? Number.NaN : map.values[i * map.columns.length + c];
}
