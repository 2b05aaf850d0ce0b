// The head map's drawing, as pure functions: where each head's point goes in a box, its colour
// (by run, by layer, or by a metric), and what its tooltip says.

import type { HeadMapData } from "../data/types";
import { css, type Rgba } from "../render/colors";
import { mapValue, metricLabel, strongest } from "./metrics";
import { category, extent, metricColor, viridis, type Extent } from "./scale";

export interface MapPoint {
  index: number;
  run: string;
  layer: number;
  head: number;
  x: number;
  y: number;
  color: string;
}

export interface MapLegend {
  items: { label: string; color: string }[];
  range: Extent | null;
  label: string;
}

/** Points fitted into a `width` x `height` box with `pad` around (y grows downwards, aspect kept). */
export function placePoints(map: HeadMapData, width: number, height: number, pad: number, colorBy: string): MapPoint[] {
  const xs = Array.from({ length: map.n }, (_, i) => map.coords[i * 2]);
  const ys = Array.from({ length: map.n }, (_, i) => map.coords[i * 2 + 1]);
  const bx = extent(xs) ?? { low: 0, high: 1 };
  const by = extent(ys) ?? { low: 0, high: 1 };
  const span = Math.max(bx.high - bx.low, by.high - by.low, 1e-9);
  const scale = Math.min(width - 2 * pad, height - 2 * pad) / span;
  const cx = width / 2;
  const cy = height / 2;
  const colors = pointColors(map, colorBy);
  return xs.map((x, i) => ({
    index: i,
    run: map.runs[map.run[i]],
    layer: map.layer[i],
    head: map.head[i],
    x: cx + (x - (bx.low + bx.high) / 2) * scale,
    y: cy - (ys[i] - (by.low + by.high) / 2) * scale,
    color: css(colors[i]),
  }));
}

function depth(map: HeadMapData): (i: number) => number {
  const deepest = new Map<number, number>();
  for (let i = 0; i < map.n; i++) deepest.set(map.run[i], Math.max(deepest.get(map.run[i]) ?? 0, map.layer[i]));
  return (i) => map.layer[i] / Math.max(1, deepest.get(map.run[i]) ?? 1);
}

/** Each point's colour: its run's, its depth in its model (first layer dark, last yellow), or a metric's. */
export function pointColors(map: HeadMapData, colorBy: string): Rgba[] {
  if (colorBy === "run") return Array.from(map.run, (r) => category(r));
  if (colorBy === "layer") {
    const at = depth(map);
    return Array.from({ length: map.n }, (_, i) => viridis(at(i)));
  }
  const values = Array.from({ length: map.n }, (_, i) => mapValue(map, colorBy, i));
  const range = extent(values);
  return values.map((v) => metricColor(v, range));
}

export function mapLegend(map: HeadMapData, colorBy: string): MapLegend {
  if (colorBy === "run") return { items: map.runs.map((r, i) => ({ label: r, color: css(category(i)) })), range: null, label: "run" };
  if (colorBy === "layer") return { items: [], range: { low: 0, high: 1 }, label: "depth in the model (first layer → last)" };
  const range = extent(Array.from({ length: map.n }, (_, i) => mapValue(map, colorBy, i)));
  return { items: [], range, label: metricLabel(colorBy) };
}

/** Tooltip lines: the head's strongest metrics among every head of the map. */
export function pointLines(map: HeadMapData, index: number): string[] {
  return strongest(map.values, map.columns, map.n, index, 3);
}
