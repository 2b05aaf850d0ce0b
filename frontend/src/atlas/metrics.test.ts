import { describe, expect, it } from "vitest";
import { metricLines, metricOf, presentColumns, strongest } from "./metrics";

const table = {
  layers: 2,
  heads: 2,
  columns: ["previous", "induction"],
  // rows: L0H0, L0H1, L1H0, L1H1
  values: new Float32Array([0.9, 0.0, 0.1, Number.NaN, 0.2, 0.95, 0.3, 0.1]),
};

describe("reading a metrics table", () => {
  it("finds a head's value by layer and head, NaN where it is missing", () => {
    expect(metricOf(table, "induction")(1, 0)).toBeCloseTo(0.95);
    expect(metricOf(table, "induction")(0, 1)).toBeNaN();
    expect(metricOf(table, "nothing")(0, 0)).toBeNaN();
    expect(presentColumns(["a", "b"], new Float32Array([1, Number.NaN, 2, Number.NaN]), 2)).toEqual(["a"]);
  });

  it("describes a head by the metrics it ranks highest on", () => {
    expect(strongest(table.values, table.columns, 4, 2, 3)[0]).toMatch(/^induction 0\.950 \(top 33%\)$/);
    expect(strongest(table.values, table.columns, 4, 0, 3)[0]).toMatch(/^previous token 0\.900/);
    expect(metricLines(table, 1, 0, "induction")[0]).toBe("induction 0.950");
  });
});
