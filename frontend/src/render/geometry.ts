// World coordinates shared by the Matrix and Single Views: head (layer l, head h) owns a square
// cell of side CELL (y grows downwards: layer 0 on top). A grid deeper than it is wide (SmolLM2's
// 30 layers x 9 heads) is folded into side-by-side blocks of consecutive layers, so that it fills a
// window instead of a thin column: block b holds layers b * rows .. (b + 1) * rows - 1. The fold is
// chosen once per run (`setGrid`) and every placement below follows it. The head atlas can arrange
// the cells by a metric (`setArrangement`, atlas/arrangement.ts): each layer's heads sorted (a
// head's column is its rank in its layer), or only the top-K heads in a compact grid of their own.
// A layout is centred in its cell and scaled by its longest side, so its aspect ratio holds.

import type { Arrangement } from "../atlas/arrangement";
import type { HeadLayout } from "../data/types";

export const CELL = 100;
export const GAP = 24;
export const PITCH = CELL + GAP;
/** Extra space between two blocks of a folded grid: room for the right block's layer headers. */
export const BLOCK_GAP = 76;
const FILL = 0.94;

export interface Cell {
  layer: number;
  head: number;
}

/** A model's heads as drawn: `blocks` side by side, each `rows` layers of `heads` cells. */
export interface Grid {
  layers: number;
  heads: number;
  blocks: number;
  rows: number;
}

/** Until a run sets its grid: one block, as deep and wide as anything placed in it. */
let grid: Grid = { layers: Number.MAX_SAFE_INTEGER, heads: 4096, blocks: 1, rows: Number.MAX_SAFE_INTEGER };

/** Use `next` for every placement from now on (the controller sets it when it opens a run). */
export function setGrid(next: Grid): void {
  grid = next;
}

export function currentGrid(): Grid {
  return grid;
}

/** The Matrix View's arrangement by a metric; null: every head in its own column. */
let arrangement: Arrangement | null = null;

export function setArrangement(value: Arrangement | null): void {
  arrangement = value;
}

export function currentArrangement(): Arrangement | null {
  return arrangement;
}

/** A top-K arrangement: its own compact grid, not the model's. */
function compact(): Arrangement | null {
  return arrangement?.kind === "top" ? arrangement : null;
}

/** Whether the arrangement shows head (layer, head) (a top-K grid shows only K heads). */
export function cellShown(layer: number, head: number): boolean {
  return !compact() || compact()!.slot(layer, head) !== null;
}

/** One block of `layers` rows (no fold). */
export function unfolded(layers: number, heads: number): Grid {
  return { layers, heads, blocks: 1, rows: Math.max(1, layers) };
}

/** The grid folded into `blocks` blocks of consecutive layers. */
export function folded(layers: number, heads: number, blocks: number): Grid {
  const rows = Math.ceil(Math.max(1, layers) / Math.max(1, Math.min(blocks, layers)));
  return { layers, heads, blocks: Math.ceil(Math.max(1, layers) / rows), rows }; // no empty block
}

/** World width of one block (its cells and the gap before the next block). */
function blockPitch(g: Grid): number {
  return g.heads * PITCH + BLOCK_GAP;
}

/** The grid's world size [width, height] (no trailing gaps). */
export function gridSize(g: Grid = grid): [number, number] {
  const top = compact();
  if (top && g === grid) return [top.cols * PITCH - GAP, top.rows * PITCH - GAP];
  return [g.blocks * blockPitch(g) - BLOCK_GAP - GAP, g.rows * PITCH - GAP];
}

/**
 * The fold that draws the biggest cells in a `width` x `height` pixel box (headers' margins
 * already taken off): one block unless folding makes cells at least 20% bigger.
 */
export function chooseGrid(layers: number, heads: number, width: number, height: number): Grid {
  const cellPixels = (g: Grid) => {
    const [w, h] = gridSize(g);
    return CELL * Math.min(width / w, height / h);
  };
  let best = unfolded(layers, heads);
  for (let blocks = 2; blocks <= Math.min(layers, 8); blocks++) {
    const candidate = folded(layers, heads, blocks);
    if (cellPixels(candidate) > 1.2 * cellPixels(best)) best = candidate;
  }
  return best;
}

/** World origin of layer `layer`'s row of cells. */
function rowOrigin(layer: number): [number, number] {
  const block = Math.floor(layer / grid.rows);
  return [block * blockPitch(grid), (layer - block * grid.rows) * PITCH];
}

export function cellOrigin(layer: number, head: number): [number, number] {
  const slot = arrangement?.slot(layer, head);
  if (slot && compact()) return [slot.col * PITCH, slot.row * PITCH];
  const [x, y] = rowOrigin(layer);
  return [x + (slot ? slot.col : head) * PITCH, y];
}

export function cellCentre(layer: number, head: number): [number, number] {
  const [x, y] = cellOrigin(layer, head);
  return [x + CELL / 2, y + CELL / 2];
}

/** The cell under a world position, or null in a gap or outside the grid. */
export function cellAt(x: number, y: number, layers: number, heads: number): Cell | null {
  const top = compact();
  if (top) {
    const col = Math.floor(x / PITCH);
    const row = Math.floor(y / PITCH);
    if (col < 0 || row < 0 || col >= top.cols || row >= top.rows) return null;
    if (x - col * PITCH > CELL || y - row * PITCH > CELL) return null;
    return top.at(row, col);
  }
  const block = Math.floor(x / blockPitch(grid));
  const within = x - block * blockPitch(grid);
  const head = Math.floor(within / PITCH);
  const row = Math.floor(y / PITCH);
  const layer = block * grid.rows + row;
  if (block < 0 || head < 0 || row < 0 || head >= heads || row >= grid.rows || layer >= layers) return null;
  if (within - head * PITCH > CELL || y - row * PITCH > CELL) return null;
  return arrangement ? arrangement.at(layer, head) : { layer, head }; // sorted: column -> head
}

/** The cell nearest a world position (always one of the grid). */
export function nearestCell(x: number, y: number, layers: number, heads: number): Cell {
  const clamp = (v: number, n: number) => Math.max(0, Math.min(n - 1, v));
  const top = compact();
  if (top) {
    const row = clamp(Math.floor((y + GAP / 2) / PITCH), top.rows);
    const col = clamp(Math.floor((x + GAP / 2) / PITCH), top.cols);
    return top.at(row, col) ?? top.at(row, 0) ?? top.at(0, 0) ?? { layer: 0, head: 0 };
  }
  const block = clamp(Math.floor((x + BLOCK_GAP / 2) / blockPitch(grid)), grid.blocks);
  const within = x - block * blockPitch(grid);
  const row = clamp(Math.floor((y + GAP / 2) / PITCH), grid.rows);
  const layer = clamp(block * grid.rows + row, layers);
  const column = clamp(Math.floor((within + GAP / 2) / PITCH), heads);
  return arrangement?.at(layer, column) ?? { layer, head: column };
}

/** Whether any of layer `layer`'s cells meets the world rectangle [x0, y0, x1, y1]. */
export function layerInView(layer: number, view: [number, number, number, number]): boolean {
  if (compact()) return true; // a top-K grid mixes layers in its rows
  const [x, y] = rowOrigin(layer);
  const right = x + grid.heads * PITCH - GAP;
  return y + CELL >= view[1] && y <= view[3] && right >= view[0] && x <= view[2];
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
