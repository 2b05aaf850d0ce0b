import { describe, expect, it } from "vitest";
import { LAYOUT_METHODS } from "./api.gen";
import { DEFAULT_METHOD, isMethod, layoutKey, layoutLabel, layoutRank, METHODS, parseLayout } from "./layout";

describe("layout keys", () => {
  it("parse and format round-trip, and refuse what is not a key", () => {
    for (const { id } of METHODS) for (const dim of [2, 3]) expect(parseLayout(layoutKey(id, dim))).toEqual({ method: id, dim });
    for (const bad of ["tsne", "tsne.4d", "TSNE.2d", "tsne.2d.npy", ".2d", "norms"]) expect(parseLayout(bad)).toBeNull();
  });

  it("methods come from the generated registry, in its order", () => {
    expect(METHODS.map((m) => m.id)).toEqual(LAYOUT_METHODS.map((m) => m.id));
    expect(DEFAULT_METHOD).toBe(LAYOUT_METHODS[0].id);
    expect(isMethod(DEFAULT_METHOD) && !isMethod("mds")).toBe(true);
    const keys = METHODS.flatMap((m) => [layoutKey(m.id, 3), layoutKey(m.id, 2)]).reverse();
    const sorted = [...keys].sort((a, b) => layoutRank(a) - layoutRank(b));
    expect(sorted[0]).toBe(layoutKey(DEFAULT_METHOD, 2));
    expect(layoutLabel(layoutKey(METHODS[0].id, 3))).toBe(`${METHODS[0].label} 3D`);
  });
});
