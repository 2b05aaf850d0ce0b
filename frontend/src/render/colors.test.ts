import { describe, expect, it } from "vitest";
import { COLOR_MODES, css, hex, KEY, legend, QUERY, ramp } from "./colors";

describe("colour scales", () => {
  it("ramps run light to dark from 0.25 of the scale, and stay inside it", () => {
    const lightness = (c: number[]) => c[0] + c[1] + c[2];
    for (const isKey of [false, true]) {
      const steps = [0, 0.25, 0.5, 0.75, 1].map((v) => lightness(ramp(isKey, v)));
      for (let i = 1; i < steps.length; i++) expect(steps[i]).toBeLessThan(steps[i - 1]);
      expect(ramp(isKey, -5)).toEqual(ramp(isKey, 0));
      expect(ramp(isKey, 7)).toEqual(ramp(isKey, 1));
    }
    expect(ramp(false, 1)).toEqual(hex("#004529"));
    expect(ramp(true, 1)).toEqual(hex("#67001f"));
  });

  it("queries and keys differ: greens for queries, pinks for keys", () => {
    const q = ramp(false, 0.6);
    const k = ramp(true, 0.6);
    expect(q[1]).toBeGreaterThan(q[0]);
    expect(k[0]).toBeGreaterThan(k[1]);
    expect(QUERY).not.toEqual(KEY);
  });

  it("hex and css round-trip", () => {
    expect(hex("#E3378F")).toEqual([227, 55, 143, 255]);
    expect(css([1, 2, 3, 255], 0.5)).toBe("rgba(1,2,3,0.5)");
  });

  it("every colour mode has a legend that describes it", () => {
    for (const mode of COLOR_MODES) {
      const spec = legend(mode.id, null);
      expect(spec.description).toBe(mode.description);
      expect(spec.items.length).toBeGreaterThan(0);
    }
  });
});
