// The Matrix View by a metric: every cell framed in its colour on the metric's scale, the heads of
// each layer sorted by it, or only the model's top-K heads for it. State lives in the URL
// (`metric`, `sort`, `top`); the geometry follows the arrangement set here.

import type { DataSource } from "../data/types";
import type { RunData } from "../data/run-data";
import { css } from "../render/colors";
import { setArrangement } from "../render/geometry";
import { sortedArrangement, topArrangement } from "./arrangement";
import { metricOf, presentColumns } from "./metrics";
import { extent, metricColor } from "./scale";
import { atlas, loadMetrics } from "./state.svelte";

export interface MetricChoice {
  metric: string;
  sort: boolean;
  top: number;
}

export type CellColor = ((layer: number, head: number) => string) | null;

/**
 * Load the run's metrics and arrange the Matrix View's cells by `choice` (the geometry follows);
 * returns each cell's colour on the metric's scale (for `Overlay.colorCells`), null without a metric.
 */
export async function arrangeMatrix(source: DataSource, data: RunData, choice: MetricChoice): Promise<CellColor> {
  const table = await loadMetrics(source, data.id);
  atlas.metrics = table;
  atlas.columns = table ? presentColumns(table.columns, table.values, table.layers * table.heads) : [];
  const column = choice.metric && atlas.columns.includes(choice.metric) ? choice.metric : "";
  if (!table || !column) {
    setArrangement(null);
    atlas.range = null;
    return null;
  }
  const value = metricOf(table, column);
  const values: number[] = [];
  for (let l = 0; l < data.layers; l++) for (let h = 0; h < data.heads; h++) values.push(value(l, h));
  const range = extent(values);
  atlas.range = range;
  setArrangement(
    choice.top > 0
      ? topArrangement(value, data.layers, data.heads, choice.top)
      : choice.sort
        ? sortedArrangement(value, data.layers, data.heads)
        : null,
  );
  return (l, h) => css(metricColor(value(l, h), range));
}
