import { afterEach, describe, expect, it } from "vitest";
import {
  CELL,
  cellAt,
  cellCentre,
  cellOrigin,
  chooseGrid,
  folded,
  gridSize,
  layerInView,
  nearestCell,
  PITCH,
  setGrid,
  unfolded,
} from "./geometry";

afterEach(() => setGrid(unfolded(64, 64)));

describe("the Matrix View's grid", () => {
  it("keeps a wide or square grid in one block", () => {
    expect(chooseGrid(6, 12, 960, 700).blocks).toBe(1); // MiniLM
    expect(chooseGrid(12, 12, 960, 700).blocks).toBe(1);
    expect(chooseGrid(4, 4, 960, 700).blocks).toBe(1);
  });

  it("folds a deep grid (SmolLM2, 30 x 9) into blocks that fill a landscape window", () => {
    const grid = chooseGrid(30, 9, 960, 700);
    expect(grid.blocks).toBeGreaterThan(1);
    expect(grid.rows * grid.blocks).toBeGreaterThanOrEqual(30);
    const cell = (g: ReturnType<typeof chooseGrid>) => {
      const [w, h] = gridSize(g);
      return CELL * Math.min(960 / w, 700 / h);
    };
    expect(cell(grid)).toBeGreaterThan(1.6 * cell(unfolded(30, 9)));
    // a tall, narrow window keeps the single column
    expect(chooseGrid(30, 9, 300, 1400).blocks).toBe(1);
  });

  it("places every head in its own cell and finds it back, folded or not", () => {
    for (const grid of [unfolded(30, 9), folded(30, 9, 2), folded(30, 9, 4), folded(7, 3, 3)]) {
      setGrid(grid);
      const seen = new Set<string>();
      for (let layer = 0; layer < grid.layers; layer++) {
        for (let head = 0; head < grid.heads; head++) {
          const [x, y] = cellOrigin(layer, head);
          const [w, h] = gridSize(grid);
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x + CELL).toBeLessThanOrEqual(w + 1e-9);
          expect(y + CELL).toBeLessThanOrEqual(h + 1e-9);
          seen.add(`${x},${y}`);
          const [cx, cy] = cellCentre(layer, head);
          expect(cellAt(cx, cy, grid.layers, grid.heads)).toEqual({ layer, head });
          expect(nearestCell(cx + CELL * 0.55, cy, grid.layers, grid.heads).layer).toBe(layer);
        }
      }
      expect(seen.size).toBe(grid.layers * grid.heads);
    }
  });

  it("answers null in the gaps and beyond the last layer of a folded grid", () => {
    setGrid(folded(7, 3, 2)); // rows of 4: the second block holds layers 4..6, its last row is empty
    const [x, y] = cellOrigin(4, 0);
    expect(cellAt(x + CELL + 2, y + 10, 7, 3)).toBeNull();
    expect(cellAt(x + 10, y + 3 * PITCH + 10, 7, 3)).toBeNull();
    expect(cellAt(-5, 10, 7, 3)).toBeNull();
  });

  it("tells which layers meet a view rectangle", () => {
    setGrid(folded(30, 9, 2));
    const [x, y] = cellOrigin(17, 0); // the right block, its third row
    const view: [number, number, number, number] = [x + 10, y + 10, x + 60, y + 60];
    const shown = Array.from({ length: 30 }, (_, l) => l).filter((l) => layerInView(l, view));
    expect(shown).toEqual([17]);
  });
});
