// Where each head of the Matrix View sits: its own (layer, head) cell, the heads of each layer
// sorted by a metric, or only the model's top-K heads for it in a compact grid. Pure logic; the
// geometry (render/geometry.ts) places cells through the arrangement in force.

export interface Slot {
  row: number;
  col: number;
}

export interface Arrangement {
  kind: "sorted" | "top";
  rows: number;
  cols: number;
  /** where head (layer, head) sits, or null when it is not shown */
  slot(layer: number, head: number): Slot | null;
  /** the head at a slot, or null */
  at(row: number, col: number): { layer: number; head: number } | null;
}

/** A metric's value per head (NaN where the head lacks it). */
export type HeadValue = (layer: number, head: number) => number;

/** Larger first; NaN last; ties by layer, then head (stable). */
function byValue(value: HeadValue): (a: [number, number], b: [number, number]) => number {
  return (a, b) => {
    const va = value(a[0], a[1]);
    const vb = value(b[0], b[1]);
    const na = Number.isNaN(va);
    const nb = Number.isNaN(vb);
    if (na !== nb) return na ? 1 : -1;
    if (!na && va !== vb) return vb - va;
    return a[0] - b[0] || a[1] - b[1];
  };
}

function fromCells(kind: Arrangement["kind"], cells: ([number, number] | null)[][], cols: number): Arrangement {
  const slots = new Map<string, Slot>();
  cells.forEach((row, r) => row.forEach((cell, c) => cell && slots.set(`${cell[0]}.${cell[1]}`, { row: r, col: c })));
  return {
    kind,
    rows: cells.length,
    cols,
    slot: (layer, head) => slots.get(`${layer}.${head}`) ?? null,
    at: (row, col) => {
      const cell = cells[row]?.[col];
      return cell ? { layer: cell[0], head: cell[1] } : null;
    },
  };
}

/** Every layer's heads in one row, largest value first. */
export function sortedArrangement(value: HeadValue, layers: number, heads: number): Arrangement {
  const rows = Array.from({ length: layers }, (_, layer) =>
    Array.from({ length: heads }, (_, head) => [layer, head] as [number, number]).sort(byValue(value)),
  );
  return fromCells("sorted", rows, heads);
}

/** The `k` heads with the largest values, row by row in that order, `cols` to a row (default: the heads per layer). */
export function topArrangement(value: HeadValue, layers: number, heads: number, k: number, cols = heads): Arrangement {
  const all: [number, number][] = [];
  for (let layer = 0; layer < layers; layer++) for (let head = 0; head < heads; head++) all.push([layer, head]);
  const top = all.sort(byValue(value)).slice(0, Math.max(1, Math.min(k, all.length)));
  const width = Math.max(1, Math.min(cols, top.length));
  const rows: ([number, number] | null)[][] = [];
  top.forEach((cell, i) => {
    if (i % width === 0) rows.push([]);
    rows[rows.length - 1].push(cell);
  });
  return fromCells("top", rows, width);
}
