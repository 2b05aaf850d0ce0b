// The selected sequence: clicking a point in the Single View selects its sentence or image; the
// Sentence and Aggregate Views edit what is shown (hidden keys, queries toggled off, value-norm
// weighting, log scale) and the scatterplot's attention lines follow the same edits.

import type { RunData } from "../data/run-data";
import { cropAndNormalise, displayWeights, editAttention, specialPositions, topKeys } from "../views/attention";

export interface Selection {
  /** the run whose attention this is */
  run: string;
  layer: number;
  head: number;
  sequence: number;
  tokenStart: number;
  n: number;
  /** the layout row clicked (0..2N-1: queries then keys) */
  row: number;
  /** N, the run's number of tokens */
  total: number;
  tokens: string[];
  special: number[];
  attention: Float32Array;
  /** the head's aggregate, cropped to n and row-normalised */
  aggregate: Float32Array | null;
  valueNorms: Float32Array | null;
  /** image runs: the image and each position's patch (row, col; -1 for [CLS]) */
  image: { url: string; grid: [number, number]; patchRow: number[]; patchCol: number[] } | null;
}

export interface SelectionEdits {
  hidden: number[];
  off: number[];
  hoverQuery: number | null;
  hoverKey: number | null;
  valueWeight: boolean;
  log: boolean;
  /** line opacity relative to each query's strongest key instead of the whole matrix's */
  perRow: boolean;
  k: number;
  threshold: number;
}

export interface Line {
  query: number;
  key: number;
  /** display weight in [0, 1] */
  weight: number;
  value: number;
}

export const EDITS_DEFAULT: SelectionEdits = {
  hidden: [],
  off: [],
  hoverQuery: null,
  hoverKey: null,
  valueWeight: false,
  log: false,
  perRow: false,
  k: 3,
  threshold: 0.05,
};

export const selection: { current: Selection | null; edits: SelectionEdits; version: number } = $state({
  current: null,
  edits: { ...EDITS_DEFAULT },
  version: 0,
});

export async function loadSelection(data: RunData, layer: number, head: number, row: number): Promise<Selection> {
  const token = row >= data.n ? row - data.n : row;
  const sequence = data.tokens.sequence[token];
  const tokenStart = data.sequences.tokenStart[sequence];
  const n = data.sequences.nTokens[sequence];
  const [matrix, aggregate] = await Promise.all([
    data.source.sequenceAttention(data.id, layer, head, sequence),
    data.source.aggregateAttention(data.id, layer, head).catch(() => null),
  ]);
  // the attention frame carries the value norms; their own route is for other clients
  const valueNorms = matrix.valueNorms ?? (await data.source.valueNorms(data.id, layer, head, sequence).catch(() => null));
  const t = data.tokens;
  const tokens: string[] = [];
  const special: number[] = [];
  for (let p = 0; p < n; p++) {
    tokens.push(t.values[t.token[tokenStart + p]]);
    special.push(t.special[tokenStart + p]);
  }
  return {
    run: data.id,
    layer,
    head,
    sequence,
    tokenStart,
    n,
    row,
    total: data.n,
    tokens,
    special,
    attention: matrix.values,
    aggregate: aggregate ? cropAndNormalise(aggregate.values, aggregate.n, n) : null,
    valueNorms,
    image: imageOf(data, sequence, tokenStart, n),
  };
}

/** The attention after the edits, for the sequence or (aggregate) the head's average. */
export function edited(sel: Selection, edits: SelectionEdits, aggregate = false): Float32Array | null {
  const hidden = new Set(edits.hidden);
  if (aggregate) return sel.aggregate ? editAttention(sel.aggregate, sel.n, { hidden }) : null;
  return editAttention(sel.attention, sel.n, { hidden, valueNorms: edits.valueWeight ? sel.valueNorms : null });
}

/**
 * Lines to draw: every query not toggled off (only the hovered one while hovering a query, only
 * lines into the hovered key while hovering a key), to its keys at or above the threshold; `k`
 * keeps each query's heaviest k (the scatterplot), null keeps all (the Sentence View).
 */
export function linesOf(matrix: Float32Array, n: number, edits: SelectionEdits, k: number | null): Line[] {
  const weights = displayWeights(matrix, edits.log, edits.perRow ? n : null);
  const off = new Set(edits.off);
  const lines: Line[] = [];
  for (let i = 0; i < n; i++) {
    if (off.has(i) || (edits.hoverQuery !== null && edits.hoverQuery !== i)) continue;
    for (const j of topKeys(matrix, n, i, k ?? n, edits.threshold)) {
      if (edits.hoverKey !== null && edits.hoverKey !== j) continue;
      lines.push({ query: i, key: j, weight: weights[i * n + j], value: matrix[i * n + j] });
    }
  }
  return lines;
}

export function hideSpecial(sel: Selection): number[] {
  return [...specialPositions(sel.special)];
}

function imageOf(data: RunData, sequence: number, tokenStart: number, n: number): Selection["image"] {
  const grid = data.details.image_grid;
  const { patchRow, patchCol } = data.tokens;
  if (!grid || !patchRow || !patchCol) return null;
  return {
    url: data.source.imageUrl(data.id, sequence),
    grid: [grid[0], grid[1]],
    patchRow: Array.from(patchRow.subarray(tokenStart, tokenStart + n)),
    patchCol: Array.from(patchCol.subarray(tokenStart, tokenStart + n)),
  };
}
