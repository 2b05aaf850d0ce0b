// Pure functions over one sequence's attention, a row-major [n, n] Float32Array (rows: queries,
// columns: keys). The Sentence, Aggregate and Single Views draw what these return;
// attention.test.ts (vitest) checks them against the formulas.

export type Matrix = Float32Array;

export interface AttentionEdits {
  /** key positions hidden: their columns are zeroed and every row renormalised over the rest */
  hidden?: ReadonlySet<number>;
  /** value-vector norm per key position: a'_ij = a_ij ||v_j|| / sum_m a_im ||v_m|| */
  valueNorms?: ArrayLike<number> | null;
}

/**
 * The attention as the views show it after the user's edits:
 * a'_ij = a_ij w_j [j not hidden] / sum_m a_im w_m [m not hidden], w = value norms or 1.
 * With no value norms and rows summing to 1 this is a_ij / (1 - sum_hidden a_ih).
 * A row whose remaining mass is 0 stays 0.
 */
export function editAttention(att: Matrix, n: number, edits: AttentionEdits = {}): Matrix {
  const out = new Float32Array(n * n);
  const weights = edits.valueNorms ?? null;
  const hidden = edits.hidden ?? new Set<number>();
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let j = 0; j < n; j++) {
      if (hidden.has(j)) continue;
      const value = att[i * n + j] * (weights ? weights[j] : 1);
      out[i * n + j] = value;
      total += value;
    }
    if (total > 0) for (let j = 0; j < n; j++) out[i * n + j] /= total;
  }
  return out;
}

/** a_ij / (1 - sum_{h hidden} a_ih): hiding keys and renormalising each row over the rest. */
export function hideKeys(att: Matrix, n: number, hidden: ReadonlySet<number>): Matrix {
  return editAttention(att, n, { hidden });
}

/** a_ij ||v_j|| / sum_m a_im ||v_m||: attention weighted by the value vectors' norms. */
export function weightByValueNorms(att: Matrix, n: number, valueNorms: ArrayLike<number>): Matrix {
  return editAttention(att, n, { valueNorms });
}

/** The top-left [n, n] of a [size, size] matrix, each row rescaled to sum to 1. */
export function cropAndNormalise(att: Matrix, size: number, n: number): Matrix {
  const m = Math.min(n, size);
  const out = new Float32Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) out[i * m + j] = att[i * size + j];
  return editAttention(out, m);
}

/**
 * Display weights in [0, 1] for line opacity. Linear: a / max. Log: (log10 a - log10 floor) /
 * (log10 max - log10 floor) with floor = max / 1000, so heads whose mass sits on one sink token still
 * show their small weights. `max` is the whole matrix's, or with `perRow` (the row length n) each
 * query row's own: every query's strongest key is then fully drawn, whatever a sink takes elsewhere.
 */
export function displayWeights(att: Matrix, log = false, perRow: number | null = null): Float32Array {
  const out = new Float32Array(att.length);
  const width = perRow ?? att.length;
  for (let start = 0; start < att.length; start += width) {
    let max = 0;
    for (let k = start; k < start + width; k++) if (att[k] > max) max = att[k];
    if (max <= 0) continue;
    if (!log) {
      for (let k = start; k < start + width; k++) out[k] = att[k] / max;
      continue;
    }
    const top = Math.log10(max);
    const floor = top - 3;
    for (let k = start; k < start + width; k++) {
      const a = att[k];
      out[k] = a > 0 ? Math.max(0, (Math.log10(a) - floor) / (top - floor)) : 0;
    }
  }
  return out;
}

/** Query i's keys by weight, heaviest first: at most `k` of them, each at least `threshold`. */
export function topKeys(att: Matrix, n: number, i: number, k: number, threshold = 0): number[] {
  const row = Array.from({ length: n }, (_, j) => j).filter((j) => att[i * n + j] >= threshold && att[i * n + j] > 0);
  row.sort((a, b) => att[i * n + b] - att[i * n + a]);
  return row.slice(0, k);
}

/**
 * Positions of special tokens to hide in one click: tokens flagged special ([CLS], [SEP], BOS...),
 * or the first token when the sequence has none (models without BOS still sink attention there).
 */
export function specialPositions(special: ArrayLike<number>): Set<number> {
  const found = new Set<number>();
  for (let p = 0; p < special.length; p++) if (special[p]) found.add(p);
  if (found.size === 0 && special.length > 0) found.add(0);
  return found;
}

/**
 * How an Image View flow of attention `weight` is stroked, `max` the strongest flow drawn: width
 * and opacity grow with the weight, so a low threshold still shows which flows carry the mass.
 */
export function flowStroke(weight: number, max: number): { width: number; opacity: number } {
  const w = max > 0 ? Math.max(0, Math.min(1, weight / max)) : 0;
  return { width: 0.5 + 4.5 * w, opacity: 0.3 + 0.7 * w };
}

// --- long sequences: attention fetched a window of query rows at a time, token rows virtualised ---

/** Sequences up to this many tokens are fetched whole; longer ones a window of rows at a time. */
export const WHOLE_SEQUENCE = 256;
/** Query rows per request for a longer sequence. */
export const ROW_WINDOW = 64;

/**
 * Which windows of query rows of an [n, n] attention have been asked for. The matrix itself stays
 * a dense [n, n] array whose rows are zero until their window arrives (a zero row draws nothing).
 */
export class RowWindows {
  private readonly requested: Uint8Array;

  constructor(
    readonly n: number,
    readonly size = ROW_WINDOW,
  ) {
    this.requested = new Uint8Array(Math.ceil(n / size));
  }

  /** Row ranges [start, stop) of the windows covering rows [first, last) not asked for yet; marks them asked. */
  claim(first: number, last: number): [number, number][] {
    const out: [number, number][] = [];
    const from = Math.max(0, Math.floor(first / this.size));
    const to = Math.min(this.requested.length, Math.ceil(Math.min(last, this.n) / this.size));
    for (let w = from; w < to; w++) {
      if (this.requested[w]) continue;
      this.requested[w] = 1;
      out.push([w * this.size, Math.min(this.n, (w + 1) * this.size)]);
    }
    return out;
  }

  /** Mark every window as asked for (all rows arrived at once, as from a static export's file). */
  markAll(): void {
    this.requested.fill(1);
  }

  /** Forget a window whose request failed, so it is asked for again. */
  release(start: number): void {
    this.requested[Math.floor(start / this.size)] = 0;
  }
}

/** Copy `nRows` rows of width n, starting at row `rowStart`, into the dense [n, n] matrix. */
export function fillRows(matrix: Matrix, n: number, rowStart: number, values: Float32Array): void {
  matrix.set(values.subarray(0, Math.min(values.length, (n - rowStart) * n)), rowStart * n);
}

/** Token rows [first, last) to draw for a scroll position: the visible ones and `margin` on each side. */
export function visibleRows(scrollTop: number, height: number, rowHeight: number, n: number, margin = 20): [number, number] {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - margin);
  const last = Math.min(n, Math.ceil((scrollTop + height) / rowHeight) + margin);
  return [first, Math.max(first, last)];
}
