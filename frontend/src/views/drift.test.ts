import { describe, expect, it } from "vitest";
import { driftColor } from "./drift";

describe("drift colours", () => {
  it("run from pale yellow at 0 to dark red at the maximum, clamped", () => {
    expect(driftColor(0, 0.5)).toBe("rgb(255, 255, 204)");
    expect(driftColor(0.5, 0.5)).toBe("rgb(128, 0, 38)");
    expect(driftColor(2, 0.5)).toBe("rgb(128, 0, 38)");
    expect(driftColor(0.3, 0)).toBe("rgb(255, 255, 204)");
  });

  it("grow darker with the drift", () => {
    const red = (c: string) => Number(c.split(/[(,]/)[2]);
    const greens = [0, 0.1, 0.2, 0.3, 0.4, 0.5].map((v) => red(driftColor(v, 0.5)));
    expect(greens).toEqual([...greens].sort((a, b) => b - a));
  });
});
