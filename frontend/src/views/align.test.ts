import { describe, expect, it } from "vitest";
import { alignLayout, apply, compose, ease, identity, invert, lerp, type Similarity } from "./align";

const turn = (angle: number, scale: number, shift: number[]): Similarity => ({
  rotation: [
    [Math.cos(angle), Math.sin(angle)],
    [-Math.sin(angle), Math.cos(angle)],
  ],
  scale,
  shift,
});

describe("similarity transforms", () => {
  it("compose applies the inner transform first", () => {
    const a = turn(0.7, 2, [1, -3]);
    const b = turn(-1.9, 0.5, [4, 2]);
    const p = [0.3, -1.2];
    const both = apply(compose(a, b), p);
    const stepwise = apply(a, apply(b, p));
    expect(both[0]).toBeCloseTo(stepwise[0], 10);
    expect(both[1]).toBeCloseTo(stepwise[1], 10);
  });

  it("a transform composed with its inverse is the identity, reflections included", () => {
    const reflect: Similarity = { rotation: [[1, 0, 0], [0, 0, 1], [0, 1, 0]], scale: 3, shift: [1, 2, 3] };
    for (const t of [turn(2.1, 0.3, [5, 5]), reflect]) {
      const back = compose(invert(t), t);
      const dim = t.shift.length;
      const p = Array.from({ length: dim }, (_, i) => i + 0.5);
      apply(back, p).forEach((v, i) => expect(v).toBeCloseTo(p[i], 10));
      expect(back.scale).toBeCloseTo(1, 12);
    }
    expect(apply(identity(2), [3, 4])).toEqual([3, 4]);
  });

  it("alignLayout moves every row and takes the target's bounds", () => {
    const layout = { key: "pca.2d", dim: 2, rows: 2, coords: new Float32Array([1, 0, 0, 1]), bounds: [[0, 1], [0, 1]] as [number, number][] };
    const aligned = alignLayout(layout, turn(Math.PI / 2, 2, [10, 0]), [[-5, 5], [-5, 5]]);
    expect(Array.from(aligned.coords).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([10, 2, 8, 0]);
    expect(aligned.bounds).toEqual([[-5, 5], [-5, 5]]);
    expect(layout.coords[0]).toBe(1);
  });

  it("lerp and ease run from the start to the end", () => {
    const out = lerp(new Float32Array([0, 10]), new Float32Array([4, 20]), 0.25, new Float32Array(2));
    expect(Array.from(out)).toEqual([1, 12.5]);
    expect([ease(0), ease(0.5), ease(1), ease(2)]).toEqual([0, 0.5, 1, 1]);
  });
});
