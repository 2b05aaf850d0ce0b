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
