import { describe, expect, it } from "vitest";
import { cellShare, MIN_PER_CELL, PREVIEW_MAX, previewShare, zoomShare } from "./lod";

describe("level of detail", () => {
  it("cells share the budget in even prefixes, never more than a whole head", () => {
    expect(cellShare(1_500_000, 72, 5000)).toBe(5000); // MiniLM's demo: every point of every head
    expect(cellShare(200_000, 270, 10_000)).toBe(740); // SmolLM2 in software WebGL
    expect(cellShare(200_000, 270, 10_000) % 2).toBe(0);
    expect(cellShare(1_000, 1024, 10_000)).toBe(MIN_PER_CELL); // a floor, so a cell is never empty
    expect(cellShare(1_000, 1024, 40)).toBe(40); // and never more than the head has
  });

  it("the preview is a small even prefix of the cell's share", () => {
    expect(previewShare(740, 270)).toBe(236);
    expect(previewShare(5000, 4)).toBe(PREVIEW_MAX);
    expect(previewShare(10, 4)).toBe(10);
    expect(previewShare(5000, 100_000)).toBe(16);
  });

  it("zooming in gives the cells in view the whole budget", () => {
    expect(zoomShare(200_000, 4, 10_000)).toBe(10_000);
    expect(zoomShare(200_000, 40, 10_000)).toBe(5000);
    expect(zoomShare(200_000, 0, 10_000)).toBe(10_000);
  });
});
