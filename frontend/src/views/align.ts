// Similarity transforms between layouts (x -> scale * x @ rotation + shift, row vectors), as the
// server's Procrustes alignments give them: composed along a chain of heads or checkpoints, inverted
// to walk a chain backwards, and applied to a layout so it lies in another layout's coordinates.

import type { HeadLayout, Transform } from "../data/types";

export type Similarity = Pick<Transform, "rotation" | "scale" | "shift">;

export function identity(dim: number): Similarity {
  return {
    rotation: Array.from({ length: dim }, (_, i) => Array.from({ length: dim }, (_, j) => (i === j ? 1 : 0))),
    scale: 1,
    shift: new Array<number>(dim).fill(0),
  };
}

/** x -> outer(inner(x)). */
export function compose(outer: Similarity, inner: Similarity): Similarity {
  const dim = outer.shift.length;
  const rotation = matmul(inner.rotation, outer.rotation);
  const shift = apply(outer, inner.shift);
  return { rotation, scale: inner.scale * outer.scale, shift: shift.slice(0, dim) };
}

/** y -> x where y = t(x): (y - shift) @ rotation^T / scale. */
export function invert(t: Similarity): Similarity {
  const dim = t.shift.length;
  const transposed = Array.from({ length: dim }, (_, i) => Array.from({ length: dim }, (_, j) => t.rotation[j][i]));
  const scale = t.scale === 0 ? 0 : 1 / t.scale;
  const shift = vecmat(t.shift, transposed).map((v) => -v * scale);
  return { rotation: transposed, scale, shift };
}

/** One point through `t`. */
export function apply(t: Similarity, point: ArrayLike<number>): number[] {
  return vecmat(Array.from(point), t.rotation).map((v, j) => t.scale * v + t.shift[j]);
}

/**
 * `layout` moved by `t` into another layout's coordinates, with that layout's `bounds`: placing both
 * with those bounds (geometry.placeInCell) puts a token where its own layout would put it.
 */
export function alignLayout(layout: HeadLayout, t: Similarity, bounds: [number, number][]): HeadLayout {
  const { dim, rows, coords } = layout;
  const out = new Float32Array(rows * dim);
  const r = t.rotation;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < dim; j++) {
      let sum = 0;
      for (let k = 0; k < dim; k++) sum += coords[i * dim + k] * r[k][j];
      out[i * dim + j] = t.scale * sum + t.shift[j];
    }
  }
  return { ...layout, coords: out, bounds };
}

/** out[i] = from[i] + (to[i] - from[i]) * f. */
export function lerp(from: Float32Array, to: Float32Array, f: number, out: Float32Array): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = from[i] + (to[i] - from[i]) * f;
  return out;
}

/** Smooth start and stop, 0 -> 0 and 1 -> 1. */
export function ease(f: number): number {
  const x = Math.min(1, Math.max(0, f));
  return x * x * (3 - 2 * x);
}

function matmul(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0].map((_, j) => row.reduce((sum, v, k) => sum + v * b[k][j], 0)));
}

function vecmat(v: number[], m: number[][]): number[] {
  return m[0].map((_, j) => v.reduce((sum, x, k) => sum + x * m[k][j], 0));
}
