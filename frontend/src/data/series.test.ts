import { describe, expect, it } from "vitest";
import { seriesOf, stepFrom, stepPath } from "./series";
import type { RunSummary } from "./types";

const run = (id: string, series: string | null, step: number | null): RunSummary => ({
  id, model: "m", kind: "text", layers: 2, heads: 2, n_tokens: 10, n_sequences: 2, series, step,
});

const runs = [run("late", "s", 200), run("other", null, null), run("early", "s", 0), run("mid", "s", 100), run("x", "t", 5)];

describe("training series", () => {
  it("lists a run's series in step order", () => {
    expect(seriesOf(runs, "mid").map((r) => r.id)).toEqual(["early", "mid", "late"]);
    expect(seriesOf(runs, "other")).toEqual([]);
    expect(seriesOf(runs, "nothing")).toEqual([]);
  });

  it("steps forwards and backwards, and walks between two steps", () => {
    expect(stepFrom(runs, "early", 1)?.id).toBe("mid");
    expect(stepFrom(runs, "early", -1)).toBeNull();
    expect(stepFrom(runs, "late", -2)?.id).toBe("early");
    expect(stepPath(runs, "late", "early")).toEqual(["late", "mid", "early"]);
    expect(stepPath(runs, "early", "x")).toBeNull();
  });
});
