import { describe, expect, it } from "vitest";
import { chooseLayout, missingLayoutNote, settingsForRun } from "./choices";

const all = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("the projection a run opens on", () => {
  it("is the one asked for when every head has it", () => {
    const layouts = { "tsne.2d": all(270), "pca.2d": all(270), "pca.3d": all(270) };
    expect(chooseLayout(layouts, 270, { method: "tsne", dim: 2 })).toEqual({ method: "tsne", dim: 2, waitingFor: null });
  });

  it("is one every head has while the one asked for is still being computed (SmolLM2: t-SNE for 2 of 270)", () => {
    const layouts = { "tsne.2d": [0, 1], "pca.2d": all(270), "pca.3d": all(270), "umap.2d": all(40) };
    expect(chooseLayout(layouts, 270, { method: "tsne", dim: 2 })).toEqual({ method: "pca", dim: 2, waitingFor: "tsne" });
    expect(chooseLayout(layouts, 270, { method: "tsne", dim: 3 })).toEqual({ method: "pca", dim: 3, waitingFor: "tsne" });
  });

  it("keeps the one asked for when nothing covers more heads", () => {
    const layouts = { "tsne.2d": all(10), "pca.2d": all(10) };
    expect(chooseLayout(layouts, 72, { method: "tsne", dim: 2 }).method).toBe("tsne");
    expect(chooseLayout({}, 72, { method: "umap", dim: 2 }).method).toBe("umap");
  });

  it("falls back to 2D where the method has no 3D layout", () => {
    expect(chooseLayout({ "tsne.2d": all(4) }, 4, { method: "tsne", dim: 3 }).dim).toBe(2);
  });
});

describe("settings when a run opens", () => {
  const state = { color: "query_key" as const, labels: true, search: "" };

  it("a text colouring, the labels and a text search do not carry over to an image run", () => {
    expect(settingsForRun("image", "text", { color: "frequency", labels: true, search: "cat" })).toEqual({
      color: "query_key",
      labels: false,
      search: "",
    });
  });

  it("an image colouring does not carry over to a text run; labels come back on", () => {
    expect(settingsForRun("text", "image", { color: "patch_row", labels: false, search: "" })).toEqual({
      color: "query_key",
      labels: true,
    });
  });

  it("a run of the same kind keeps everything the user set", () => {
    expect(settingsForRun("text", "text", { color: "frequency", labels: false, search: "cat" })).toEqual({});
    expect(settingsForRun("image", "image", { color: "patch_col", labels: true, search: "[cls]" })).toEqual({});
  });

  it("an image run opens without labels unless the URL asked for them", () => {
    expect(settingsForRun("image", null, state)).toEqual({ labels: false });
    expect(settingsForRun("image", null, state, new Set(["labels"]))).toEqual({});
    expect(settingsForRun("text", null, state)).toEqual({});
  });
});

describe("why a layout cannot be shown", () => {
  it("3D t-SNE is made only on request: the note says so and how to make it", () => {
    const note = missingLayoutNote({ "tsne.2d": all(4) }, "tsne", 3);
    expect(note).toContain("only when asked for");
    expect(note).toContain("attentionviz embed RUN --layouts tsne.3d");
  });

  it("a layout being computed, or not made for this run, says that", () => {
    expect(missingLayoutNote({ "umap.3d": [] }, "umap", 3)).toContain("being computed");
    expect(missingLayoutNote({}, "umap", 3)).toContain("no 3D UMAP layout");
    expect(missingLayoutNote({ "umap.3d": [2] }, "umap", 3)).toBe("");
  });
});
