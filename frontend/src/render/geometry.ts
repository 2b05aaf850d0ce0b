// World coordinates shared by the Matrix and Single Views: head (layer l, head h) owns the square
// cell [h * PITCH, h * PITCH + CELL] x [l * PITCH, l * PITCH + CELL] (y grows downwards: layer 0 on
// top). A layout is centred in its cell and scaled by its longest side, so its aspect ratio holds.

import type { HeadLayout } from "../data/types";

export const CELL = 100;
export const GAP = 24;
export const PITCH = CELL + GAP;
const FILL = 0.94;

export interface Cell {
  layer: number;
  head: number;
}

export function cellOrigin(layer: number, head: number): [number, number] {
  return [head * PITCH, layer * PITCH];
}

export function cellCentre(layer: number, head: number): [number, number] {
  const [x, y] = cellOrigin(layer, head);
  return [x + CELL / 2, y + CELL / 2];
}

/** The cell under a world position, or null in a gap or outside the grid. */
export function cellAt(x: number, y: number, layers: number, heads: number): Cell | null {
  const head = Math.floor(x / PITCH);
  const layer = Math.floor(y / PITCH);
  if (head < 0 || layer < 0 || head >= heads || layer >= layers) return null;
  if (x - head * PITCH > CELL || y - layer * PITCH > CELL) return null;
  return { layer, head };
}

/** The cell nearest a world position (always one of the grid). */
export function nearestCell(x: number, y: number, layers: number, heads: number): Cell {
  const clamp = (v: number, n: number) => Math.max(0, Math.min(n - 1, v));
  return {
    layer: clamp(Math.floor((y + GAP / 2) / PITCH), layers),
    head: clamp(Math.floor((x + GAP / 2) / PITCH), heads),
  };
}

/** Zoom (log2 pixels per world unit) at which `worldSize` spans `fraction` of `pixels`. */
export function zoomToFit(worldSize: number, pixels: number, fraction = 1): number {
  return Math.log2((Math.max(pixels, 1) * fraction) / worldSize);
}

/** Scale and offsets that centre a layout in a box of side `size` around `centre`, keeping its aspect ratio. */
function fit(bounds: [number, number][], size: number): { scale: number; mid: number[] } {
  const spans = bounds.map(([low, high]) => high - low);
  const longest = Math.max(...spans, 1e-9);
  return { scale: (size * FILL) / longest, mid: bounds.map(([low, high]) => (low + high) / 2) };
}

/** 2D world positions [rows, 2] of a 2D layout placed in cell (layer, head); layout y points up. */
export function placeInCell(layout: HeadLayout, layer: number, head: number, out?: Float32Array, offset = 0): Float32Array {
  const positions = out ?? new Float32Array(layout.rows * 2);
  const [cx, cy] = cellCentre(layer, head);
  const { scale, mid } = fit(layout.bounds.slice(0, 2), CELL);
  const { coords, dim } = layout;
  for (let i = 0; i < layout.rows; i++) {
    positions[offset + i * 2] = cx + (coords[i * dim] - mid[0]) * scale;
    positions[offset + i * 2 + 1] = cy - (coords[i * dim + 1] - mid[1]) * scale;
  }
  return positions;
}

/** 3D world positions [rows, 3] of a 3D layout centred on the origin in a cube of side CELL (z up). */
export function placeInCube(layout: HeadLayout): Float32Array {
  const positions = new Float32Array(layout.rows * 3);
  const { scale, mid } = fit(layout.bounds.slice(0, 3), CELL);
  const { coords, dim } = layout;
  for (let i = 0; i < layout.rows; i++) {
    for (let a = 0; a < 3; a++) positions[i * 3 + a] = (coords[i * dim + a] - mid[a]) * scale;
  }
  return positions;
}
