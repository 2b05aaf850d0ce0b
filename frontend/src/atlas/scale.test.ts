import { describe, expect, it } from "vitest";
import { extent, metricColor, MISSING, viridis, viridisPosition } from "./scale";

describe("the metric colour scale", () => {
  it("runs from dark purple to yellow, and its colours can be read back as positions", () => {
    const light = (t: number) => viridis(t).slice(0, 3).reduce((a, b) => a + b, 0);
    for (let t = 0.1; t <= 1; t += 0.1) expect(light(t)).toBeGreaterThan(light(t - 0.1));
    for (const t of [0, 0.2, 0.37, 0.5, 0.81, 1]) {
      const [r, g, b] = viridis(t);
      expect(Math.abs(viridisPosition([r, g, b]) - t)).toBeLessThan(0.01);
    }
  });

  it("spans the finite values, and greys out a missing one", () => {
    const range = extent([0.2, Number.NaN, 0.8, Infinity, 0.5]);
    expect(range).toEqual({ low: 0.2, high: 0.8 });
    expect(metricColor(0.2, range)).toEqual(viridis(0));
    expect(metricColor(0.8, range)).toEqual(viridis(1));
    expect(metricColor(Number.NaN, range)).toEqual(MISSING);
    expect(extent([Number.NaN])).toBeNull();
  });
});
