import { describe, expect, it } from "vitest";
import { COLOR_MODES, colorModesFor, css, heat, hex, KEY, legend, QUERY, ramp } from "./colors";

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

  it("the heat scale runs dark to light (perceptually ordered) and clamps", () => {
    const luminance = (c: number[]) => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    const steps = [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => luminance(heat(v)));
    for (let i = 1; i < steps.length; i++) expect(steps[i]).toBeGreaterThan(steps[i - 1]);
    expect(heat(-1)).toEqual(heat(0));
    expect(heat(2)).toEqual(hex("#fde725"));
  });

  it("image runs are offered no colouring that reads token text or sentence positions", () => {
    const image = colorModesFor("image").map((m) => m.id);
    expect(image).toEqual(expect.arrayContaining(["query_key", "norm", "patch_row", "patch_col"]));
    for (const text of ["position", "pos_mod_5", "punctuation", "token_length", "seq_length", "frequency"]) {
      expect(image).not.toContain(text);
    }
    expect(colorModesFor("text").map((m) => m.id)).not.toContain("patch_row");
  });
});
