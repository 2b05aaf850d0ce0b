import { describe, expect, it } from "vitest";
import type { RunSummary } from "../data/types";
import { apply, type Similarity } from "./align";
import { chain, framePath, type Frame } from "./scrub";

const summary = (id: string, step: number): RunSummary => ({
  id, model: "m", kind: "text", layers: 4, heads: 4, n_tokens: 10, n_sequences: 2, series: "s", step,
});
const runs = [summary("a", 0), summary("b", 10), summary("c", 20)];
const frame = (run: string, layer: number, head: number): Frame => ({ run, layer, head, key: "pca.2d" });

describe("scrubbing paths", () => {
  it("walks through steps, then layers, then heads, one at a time", () => {
    const path = framePath(frame("c", 0, 1), frame("a", 2, 0), runs)!;
    expect(path.map((f) => `${f.run}${f.layer}${f.head}`)).toEqual(["c01", "b01", "a01", "a11", "a21", "a20"]);
    expect(framePath(frame("a", 0, 0), frame("z", 0, 0), runs)).toBeNull();
  });

  it("chains each link's transform onto the frames before it", async () => {
    // every link shifts by +1 along x: three links lay the last frame 3 to the right of the first
    const shift: Similarity = { rotation: [[1, 0], [0, 1]], scale: 1, shift: [1, 0] };
    const seen: string[] = [];
    const link = async (from: Frame, to: Frame) => {
      seen.push(`${from.layer}->${to.layer}`);
      return shift;
    };
    const t = await chain(frame("a", 0, 0), frame("a", 3, 0), runs, link, 2);
    expect(seen).toEqual(["0->1", "1->2", "2->3"]);
    expect(apply(t!, [0, 0])).toEqual([3, 0]);
    const missing = await chain(frame("a", 0, 0), frame("a", 2, 0), runs, async () => null, 2);
    expect(missing).toBeNull();
  });
});
