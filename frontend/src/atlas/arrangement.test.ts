import { describe, expect, it } from "vitest";
import { sortedArrangement, topArrangement } from "./arrangement";

// layer 0: heads 0..2 valued 0.1, 0.9, 0.5; layer 1: 0.3, NaN, 0.7
const values = [
  [0.1, 0.9, 0.5],
  [0.3, Number.NaN, 0.7],
];
const value = (l: number, h: number) => values[l][h];

describe("arrangements of the Matrix View", () => {
  it("sorts each layer's heads by the metric, largest first and missing values last", () => {
    const a = sortedArrangement(value, 2, 3);
    expect([a.rows, a.cols]).toEqual([2, 3]);
    expect([0, 1, 2].map((c) => a.at(0, c)?.head)).toEqual([1, 2, 0]);
    expect([0, 1, 2].map((c) => a.at(1, c)?.head)).toEqual([2, 0, 1]);
    expect(a.slot(1, 1)).toEqual({ row: 1, col: 2 });
  });

  it("keeps only the top K heads of the model, in order, in a compact grid", () => {
    const a = topArrangement(value, 2, 3, 4);
    expect([a.rows, a.cols]).toEqual([2, 3]);
    const order = [a.at(0, 0), a.at(0, 1), a.at(0, 2), a.at(1, 0)].map((c) => `${c?.layer}.${c?.head}`);
    expect(order).toEqual(["0.1", "1.2", "0.2", "1.0"]);
    expect(a.slot(0, 0)).toBeNull();
    expect(a.at(1, 1)).toBeNull();
  });

  it("never shows more heads than there are, nor fewer than one", () => {
    expect(topArrangement(value, 2, 3, 50).rows * 3).toBeGreaterThanOrEqual(6);
    expect(topArrangement(value, 2, 3, 0).at(0, 0)).toEqual({ layer: 0, head: 1 });
  });
});
