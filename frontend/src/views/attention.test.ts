import { describe, expect, it } from "vitest";
import { cropAndNormalise, displayWeights, editAttention, fillRows, flowStroke, hideKeys, RowWindows, specialPositions, topKeys, visibleRows, weightByValueNorms } from "./attention";

/** A random row-stochastic [n, n] matrix (each row sums to 1), seeded. */
function attention(n: number, seed = 1): Float32Array {
  let state = seed;
  const random = () => ((state = (state * 48271) % 2147483647) / 2147483647);
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let j = 0; j < n; j++) total += out[i * n + j] = random() ** 3;
    for (let j = 0; j < n; j++) out[i * n + j] /= total;
  }
  return out;
}

const rowSums = (a: Float32Array, n: number) => Array.from({ length: n }, (_, i) => a.slice(i * n, i * n + n).reduce((s, v) => s + v, 0));

describe("attention edits", () => {
  it("hiding keys zeroes their columns and renormalises each row over the rest", () => {
    const n = 7;
    const a = attention(n);
    const hidden = new Set([0, 3, n - 1]);
    const got = hideKeys(a, n, hidden);
    for (let i = 0; i < n; i++) {
      const kept = 1 - [...hidden].reduce((s, h) => s + a[i * n + h], 0);
      for (let j = 0; j < n; j++) {
        const expected = hidden.has(j) ? 0 : a[i * n + j] / kept;
        expect(got[i * n + j]).toBeCloseTo(expected, 5);
      }
    }
    for (const total of rowSums(got, n)) expect(total).toBeCloseTo(1, 5);
  });

  it("value-norm weighting is a_ij |v_j| / sum_m a_im |v_m|", () => {
    const n = 6;
    const a = attention(n, 3);
    const v = [0.5, 2, 1, 3, 0.1, 1.5];
    const got = weightByValueNorms(a, n, v);
    for (let i = 0; i < n; i++) {
      const total = v.reduce((s, w, m) => s + a[i * n + m] * w, 0);
      for (let j = 0; j < n; j++) expect(got[i * n + j]).toBeCloseTo((a[i * n + j] * v[j]) / total, 5);
    }
    const both = editAttention(a, n, { hidden: new Set([1]), valueNorms: v });
    for (const total of rowSums(both, n)) expect(total).toBeCloseTo(1, 5);
    expect(both[0 * n + 1]).toBe(0);
  });

  it("a row with nothing left stays zero instead of dividing by zero", () => {
    const a = new Float32Array([1, 0, 0, 1]);
    const got = hideKeys(a, 2, new Set([0]));
    expect(Array.from(got)).toEqual([0, 0, 0, 1]);
  });

  it("the aggregate's crop keeps the top-left block, row-normalised", () => {
    const size = 9;
    const a = attention(size, 5);
    const got = cropAndNormalise(a, size, 5);
    for (let i = 0; i < 5; i++) {
      const total = a.slice(i * size, i * size + 5).reduce((s, x) => s + x, 0);
      for (let j = 0; j < 5; j++) expect(got[i * 5 + j]).toBeCloseTo(a[i * size + j] / total, 5);
    }
  });

  it("top keys are the heaviest first, above the threshold", () => {
    const n = 9;
    const a = attention(n, 7);
    const row = Array.from(a.slice(2 * n, 3 * n));
    const order = row.map((_, j) => j).sort((x, y) => row[y] - row[x]);
    expect(topKeys(a, n, 2, 3)).toEqual(order.slice(0, 3));
    const threshold = row[order[1]];
    expect(topKeys(a, n, 2, 9, threshold)).toEqual(order.slice(0, 2));
  });

  it("display weights: linear over the maximum, or log over three decades", () => {
    const a = new Float32Array([0.5, 0.25, 0.0005, 0]);
    const linear = displayWeights(a);
    [1, 0.5, 0.001, 0].forEach((expected, k) => expect(linear[k]).toBeCloseTo(expected, 6));
    const log = displayWeights(a, true);
    expect(log[0]).toBeCloseTo(1, 6);
    expect(log[1]).toBeCloseTo(1 - Math.log10(2) / 3, 5);
    expect(log[2]).toBeCloseTo(0, 5);
    expect(log[3]).toBe(0);
  });

  it("special positions are the flagged tokens, or the first token when none is flagged", () => {
    expect([...specialPositions([1, 0, 0, 1])]).toEqual([0, 3]);
    expect([...specialPositions([0, 0, 0])]).toEqual([0]);
  });

  it("per-row display weights give every query's strongest key full opacity (a sink head's rows)", () => {
    const n = 4;
    // query 0 puts everything on the sink (key 0); the others spread thinly
    const a = new Float32Array([1, 0, 0, 0, 0.9, 0.06, 0.04, 0, 0.9, 0, 0.05, 0.05, 0.97, 0.01, 0.01, 0.01]);
    const whole = displayWeights(a);
    const rows = displayWeights(a, false, n);
    expect(whole[1 * n + 1]).toBeCloseTo(0.06, 5); // nearly invisible against the sink's 1.0
    for (let i = 0; i < n; i++) {
      const row = Array.from(rows.slice(i * n, i * n + n));
      expect(Math.max(...row)).toBeCloseTo(1, 6);
      for (let j = 0; j < n; j++) expect(row[j]).toBeCloseTo(a[i * n + j] / Math.max(...a.slice(i * n, i * n + n)), 5);
    }
    const logRows = displayWeights(a, true, n);
    for (let i = 0; i < n; i++) expect(Math.max(...logRows.slice(i * n, i * n + n))).toBeCloseTo(1, 6);
    expect(displayWeights(new Float32Array(8), false, 4).every((w) => w === 0)).toBe(true);
  });

  it("flows are stroked wider and darker the more attention they carry", () => {
    const strokes = [0.05, 0.1, 0.2, 0.4].map((w) => flowStroke(w, 0.4));
    for (let i = 1; i < strokes.length; i++) {
      expect(strokes[i].width).toBeGreaterThan(strokes[i - 1].width);
      expect(strokes[i].opacity).toBeGreaterThan(strokes[i - 1].opacity);
    }
    expect(flowStroke(0.4, 0.4)).toEqual({ width: 5, opacity: 1 });
    expect(flowStroke(0.1, 0).width).toBe(0.5);
  });
});

describe("long sequences", () => {
  it("claims each window of rows once, covering the rows asked for", () => {
    const windows = new RowWindows(150, 64);
    expect(windows.claim(10, 70)).toEqual([
      [0, 64],
      [64, 128],
    ]);
    expect(windows.claim(60, 150)).toEqual([[128, 150]]);
    expect(windows.claim(0, 150)).toEqual([]);
    windows.release(64);
    expect(windows.claim(100, 101)).toEqual([[64, 128]]);
  });

  it("fills arriving rows into the dense matrix and leaves the rest zero", () => {
    const n = 5;
    const matrix = new Float32Array(n * n);
    fillRows(matrix, n, 3, new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    expect(Array.from(matrix.slice(3 * n))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(matrix.slice(0, 3 * n).every((v) => v === 0)).toBe(true);
    expect(topKeys(matrix, n, 0, 3)).toEqual([]);
  });

  it("draws the visible rows and a margin, never past the sequence", () => {
    expect(visibleRows(0, 170, 17, 1000, 5)).toEqual([0, 15]);
    expect(visibleRows(17 * 500, 170, 17, 1000, 5)).toEqual([495, 515]);
    expect(visibleRows(17 * 995, 170, 17, 1000, 5)).toEqual([990, 1000]);
  });
});
