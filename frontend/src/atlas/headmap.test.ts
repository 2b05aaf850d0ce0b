import { describe, expect, it } from "vitest";
import type { HeadMapData } from "../data/types";
import { mapLegend, placePoints, pointColors, pointLines } from "./headmap";
import { category, viridis } from "./scale";

const map: HeadMapData = {
  method: "umap",
  runs: ["a", "b"],
  columns: ["induction"],
  n: 3,
  run: new Int32Array([0, 0, 1]),
  layer: new Int32Array([0, 1, 3]),
  head: new Int32Array([2, 0, 1]),
  coords: new Float32Array([0, 0, 10, 0, 5, 5]),
  values: new Float32Array([0.1, 0.9, Number.NaN]),
};

describe("the head map", () => {
  it("fits every point in the box, keeping the aspect ratio", () => {
    const points = placePoints(map, 200, 100, 10, "run");
    expect(points).toHaveLength(3);
    for (const p of points) {
      expect(p.x).toBeGreaterThanOrEqual(10);
      expect(p.x).toBeLessThanOrEqual(190);
      expect(p.y).toBeGreaterThanOrEqual(10);
      expect(p.y).toBeLessThanOrEqual(90);
    }
    expect(points[1].x - points[0].x).toBeCloseTo(80); // 10 units span 80 pixels
    expect(points[2].y).toBeLessThan(points[0].y); // y points up in the layout, down on screen
    expect(points[2]).toMatchObject({ run: "b", layer: 3, head: 1 });
  });

  it("colours by run, by depth in each model, or by a metric", () => {
    expect(pointColors(map, "run")).toEqual([category(0), category(0), category(1)]);
    expect(pointColors(map, "layer")).toEqual([viridis(0), viridis(1), viridis(1)]);
    const byMetric = pointColors(map, "induction");
    expect(byMetric[0]).toEqual(viridis(0));
    expect(byMetric[1]).toEqual(viridis(1));
    expect(mapLegend(map, "run").items.map((i) => i.label)).toEqual(["a", "b"]);
    expect(pointLines(map, 1)[0]).toMatch(/^induction 0\.900/);
  });
});
