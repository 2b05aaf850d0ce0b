// The selected sequence: clicking a point in the Single View selects its sentence or image; the
// Sentence and Aggregate Views edit what is shown (hidden keys, queries toggled off, value-norm
// weighting, log scale) and the scatterplot's attention lines follow the same edits.

import type { RunData } from "../data/run-data";
import { cropAndNormalise, displayWeights, editAttention, fillRows, RowWindows, specialPositions, topKeys, WHOLE_SEQUENCE } from "../views/attention";

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
  /** [n, n]; a long sequence's rows stay zero until `rows.load` fetches them */
  attention: Float32Array;
  /** sequences longer than WHOLE_SEQUENCE: fetch the windows of rows [first, last) not asked for yet (true: some arrived) */
  rows: { load: (first: number, last: number) => Promise<boolean> } | null;
  /** the head's aggregate, cropped to its first aggregateN positions and row-normalised */
  aggregate: Float32Array | null;
  /** min(n, the positions the run's aggregate covers) */
  aggregateN: number;
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
  const attention = new Float32Array(n * n);
  const windows = new RowWindows(n);
  const load = async (first: number, last: number): Promise<boolean> => {
    const ranges = windows.claim(first, last);
    const got = await Promise.all(
      ranges.map(([start, stop]) =>
        data.source.attentionRows(data.id, layer, head, sequence, start, stop - start).catch((error: unknown) => {
          windows.release(start);
          throw error;
        }),
      ),
    );
    for (const rows of got) {
      fillRows(attention, n, rows.rowStart, rows.values);
      if (rows.nRows === n) windows.markAll(); // a static export's file holds every row
    }
    return got.length > 0;
  };
  const long = n > WHOLE_SEQUENCE && !data.details.image_grid; // the Image View reads any patch's row: fetch images whole
  const position = token - tokenStart;
  const [first, aggregate] = await Promise.all([
    data.source.attentionRows(data.id, layer, head, sequence, long ? position - (position % windows.size) : 0, long ? windows.size : n),
    data.source.aggregateAttention(data.id, layer, head).catch(() => null),
  ]);
  fillRows(attention, n, first.rowStart, first.values);
  windows.claim(first.rowStart, first.rowStart + first.nRows);
  // the attention frame carries the value norms; their own route is for other clients
  const valueNorms = first.valueNorms ?? (await data.source.valueNorms(data.id, layer, head, sequence).catch(() => null));
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
    attention,
    rows: long && first.nRows < n ? { load } : null,
    aggregate: aggregate ? cropAndNormalise(aggregate.values, aggregate.n, n) : null,
    aggregateN: aggregate ? Math.min(n, aggregate.n) : 0,
    valueNorms,
    image: imageOf(data, sequence, tokenStart, n),
  };
}

/** The attention after the edits, for the sequence or (aggregate) the head's average. */
export function edited(sel: Selection, edits: SelectionEdits, aggregate = false): Float32Array | null {
  const hidden = new Set(edits.hidden);
  if (aggregate) return sel.aggregate ? editAttention(sel.aggregate, sel.aggregateN, { hidden }) : null;
  return editAttention(sel.attention, sel.n, { hidden, valueNorms: edits.valueWeight ? sel.valueNorms : null });
}

/**
 * Lines to draw: every query not toggled off (only the hovered one while hovering a query, only
 * lines into the hovered key while hovering a key), to its keys at or above the threshold; `k`
 * keeps each query's heaviest k (the scatterplot), null keeps all (the Sentence View); `queries`:
 * only those query rows [first, last) (the rows a long sequence's Sentence View draws); `weights`:
 * the matrix's display weights, when the caller already has them.
 */
export function linesOf(
  matrix: Float32Array,
  n: number,
  edits: SelectionEdits,
  k: number | null,
  queries: [number, number] = [0, n],
  weights: Float32Array = displayWeights(matrix, edits.log, edits.perRow ? n : null),
): Line[] {
  const off = new Set(edits.off);
  const lines: Line[] = [];
  for (let i = queries[0]; i < Math.min(n, queries[1]); i++) {
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
