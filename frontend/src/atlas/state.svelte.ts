// The head atlas in the app: the current run's metrics table, the metric's range (the colour bar),
// the head map, and the token under the pointer (shared by the joint and the value layouts).

import type { DataSource, HeadMapData, MetricsTable } from "../data/types";
import type { Extent } from "./scale";

export interface AtlasState {
  /** the current run's metrics table (null until loaded, or when the run has none) */
  metrics: MetricsTable | null;
  /** columns with a value for some head, in the table's order */
  columns: string[];
  /** the chosen metric's range over the heads (the colour bar's ends) */
  range: Extent | null;
  map: HeadMapData | null;
  /** the token under the pointer in the Single View or its value layout (null: none) */
  hoverToken: number | null;
}

export const atlas: AtlasState = $state({ metrics: null, columns: [], range: null, map: null, hoverToken: null });

const metricsCache = new Map<string, Promise<MetricsTable | null>>();
const mapCache = new Map<string, Promise<HeadMapData>>();

/** A run's metrics table, fetched once (null when the host cannot answer). */
export function loadMetrics(source: DataSource, run: string): Promise<MetricsTable | null> {
  let promise = metricsCache.get(run);
  if (!promise) {
    promise = source.metrics(run).catch(() => null);
    metricsCache.set(run, promise);
  }
  return promise;
}

export function loadHeadMap(source: DataSource, method: string): Promise<HeadMapData> {
  let promise = mapCache.get(method);
  if (!promise) {
    promise = source.headMap(method);
    mapCache.set(method, promise);
    promise.catch(() => mapCache.delete(method));
  }
  return promise;
}

/** Forget what was fetched (the runs' analysis may have changed). */
export function forgetAtlas(): void {
  metricsCache.clear();
  mapCache.clear();
}
