// Colour scales of the head atlas: a metric on a sequential scale (viridis, dark = low,
// yellow = high), and categories (runs, layers) on a qualitative palette.

import { hex, type Rgba } from "../render/colors";

/** viridis, 9 stops */
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"].map(hex);
/** Tableau 10 */
const CATEGORIES = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"].map(hex);
export const MISSING: Rgba = [190, 190, 190, 255];

/** The viridis colour of t in [0, 1] (clamped). */
export function viridis(t: number): Rgba {
  const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] * (1 - f) + b[c] * f)).concat(255) as Rgba;
}

/** Where t sits on the scale, from a colour (the inverse of `viridis`, to the nearest of 256 steps). */
export function viridisPosition(color: [number, number, number]): number {
  let best = 0;
  let bestDistance = Infinity;
  for (let i = 0; i <= 255; i++) {
    const c = viridis(i / 255);
    const d = (c[0] - color[0]) ** 2 + (c[1] - color[1]) ** 2 + (c[2] - color[2]) ** 2;
    if (d < bestDistance) {
      bestDistance = d;
      best = i / 255;
    }
  }
  return best;
}

export function category(index: number): Rgba {
  return CATEGORIES[((index % CATEGORIES.length) + CATEGORIES.length) % CATEGORIES.length];
}

export interface Extent {
  low: number;
  high: number;
}

/** [min, max] of the finite values (null when there are none). */
export function extent(values: Iterable<number>): Extent | null {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return low <= high ? { low, high } : null;
}

/** A value's colour on the metric scale over `range` (grey when it is missing). */
export function metricColor(value: number, range: Extent | null): Rgba {
  if (!Number.isFinite(value) || !range) return MISSING;
  return viridis(range.high > range.low ? (value - range.low) / (range.high - range.low) : 0.5);
}

/** CSS gradient of the metric scale, left (low) to right (high). */
export function viridisGradient(): string {
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => {
    const c = viridis(t);
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  });
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 0.01 || a === 0 ? v.toFixed(3) : v.toExponential(1);
}
