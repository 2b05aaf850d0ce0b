// Level of detail: how many of a head's 2N layout rows the Matrix View draws per cell. Rows travel
// in one level-of-detail order (a seeded shuffle of the tokens, each query row followed by its key
// row), so any even prefix is a uniform sample holding both copies of the same tokens.

/** Points drawn in the whole matrix at most (shared by the cells in view). */
export const DEFAULT_POINT_BUDGET = 1_500_000;
/** Points in the whole matrix for the first, preview paint (at most PREVIEW_MAX per cell). */
export const PREVIEW_BUDGET = 64_000;
export const PREVIEW_MAX = 256;
export const MIN_PER_CELL = 64;

/** An even number of rows, at most `max` (a whole head), at least `min`. */
function evenShare(rows: number, max: number, min = 0): number {
  return Math.max(min, Math.min(max, 2 * Math.floor(rows / 2)));
}

/** Rows per cell when every one of `cells` heads shares the budget (points = 2N, a whole head). */
export function cellShare(budget: number, cells: number, points: number): number {
  return evenShare(budget / Math.max(cells, 1), points, Math.min(MIN_PER_CELL, points));
}

/** Rows per cell of the first paint: a small even prefix, at most the cell's share. */
export function previewShare(perCell: number, cells: number): number {
  return Math.min(perCell, evenShare(Math.min(PREVIEW_MAX, PREVIEW_BUDGET / Math.max(cells, 1)), PREVIEW_MAX, 16));
}

/** Rows per cell once zoomed in so that only `visible` cells are on screen. */
export function zoomShare(budget: number, visible: number, points: number): number {
  return evenShare(budget / Math.max(visible, 1), points);
}
