// The part of the app state that lives in the URL, so a view can be shared or reloaded.

import type { MatchMode } from "../data/search";
import type { ColorMode } from "../render/colors";
import { COLOR_MODES } from "../render/colors";
import { DEFAULT_METHOD, isMethod } from "../data/layout";
import type { Theme } from "../views/common";
import { SCRUB_MODES, type ScrubMode } from "../views/scrub";

export interface UrlState {
  run: string;
  view: "matrix" | "single" | "headmap";
  layer: number;
  head: number;
  method: string;
  dim: number;
  color: ColorMode;
  search: string;
  match: MatchMode;
  theme: Theme;
  labels: boolean;
  sizeByNorm: boolean;
  /** compare mode: the run shown beside this one ("" for none) */
  compare: string;
  /** what the scrubber moves through ("" when off) */
  scrub: ScrubMode;
  /** image runs, Single View: each patch over a disc of its point's colour, tinted by it, or plain */
  patches: PatchStyle;
  /** the head atlas (src/atlas/): the metric that colours the Matrix View ("" none), sorts it, keeps its top K (0: all) */
  metric: string;
  sort: boolean;
  top: number;
  /** the head map's layout (umap, pca) and colouring (run, layer, or a metric) */
  mapMethod: string;
  mapColor: string;
}

export type PatchStyle = "outline" | "fill" | "plain";
export const PATCH_STYLES: readonly PatchStyle[] = ["outline", "fill", "plain"];

export const DEFAULTS: UrlState = {
  run: "",
  view: "matrix",
  layer: 0,
  head: 0,
  method: DEFAULT_METHOD,
  dim: 2,
  color: "query_key",
  search: "",
  match: "exact",
  theme: "light",
  labels: true,
  sizeByNorm: false,
  compare: "",
  scrub: "",
  patches: "outline",
  metric: "",
  sort: false,
  top: 0,
  mapMethod: "umap",
  mapColor: "run",
};

const KEYS: Record<keyof UrlState, string> = {
  run: "run",
  view: "view",
  layer: "layer",
  head: "head",
  method: "projection",
  dim: "dim",
  color: "color",
  search: "search",
  match: "match",
  theme: "theme",
  labels: "labels",
  sizeByNorm: "size",
  compare: "compare",
  scrub: "scrub",
  patches: "patches",
  metric: "metric",
  sort: "sort",
  top: "top",
  mapMethod: "map",
  mapColor: "mapcolor",
};

function int(value: string | null, fallback: number): number {
  const n = Number.parseInt(value ?? "", 10);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

export function parseUrlState(search: string): UrlState {
  const p = new URLSearchParams(search);
  const get = (key: keyof UrlState) => p.get(KEYS[key]);
  const color = get("color") as ColorMode | null;
  const match = get("match");
  return {
    run: get("run") ?? DEFAULTS.run,
    view: get("view") === "single" ? "single" : get("view") === "headmap" ? "headmap" : "matrix",
    layer: int(get("layer"), 0),
    head: int(get("head"), 0),
    method: isMethod(get("method") ?? "") ? get("method")! : DEFAULTS.method,
    dim: get("dim") === "3" ? 3 : 2,
    color: color && COLOR_MODES.some((m) => m.id === color) ? color : DEFAULTS.color,
    search: get("search") ?? "",
    match: match === "substring" || match === "regex" ? match : "exact",
    theme: get("theme") === "dark" ? "dark" : "light",
    labels: get("labels") !== "0",
    sizeByNorm: get("sizeByNorm") === "1",
    compare: get("compare") ?? "",
    scrub: SCRUB_MODES.find((m) => m && m === get("scrub")) ?? "",
    patches: PATCH_STYLES.find((style) => style === get("patches")) ?? DEFAULTS.patches,
    metric: /^[\w.]{1,40}$/.test(get("metric") ?? "") ? get("metric")! : "",
    sort: get("sort") === "1",
    top: int(get("top"), 0),
    mapMethod: get("mapMethod") === "pca" ? "pca" : "umap",
    mapColor: /^[\w.]{1,40}$/.test(get("mapColor") ?? "") ? get("mapColor")! : DEFAULTS.mapColor,
  };
}

/** The fields the query string sets (the others are the defaults'). */
export function givenKeys(search: string): Set<keyof UrlState> {
  const p = new URLSearchParams(search);
  return new Set((Object.keys(KEYS) as (keyof UrlState)[]).filter((key) => p.has(KEYS[key])));
}

/** Query string holding the fields that differ from the defaults (the run always). */
export function formatUrlState(state: UrlState): string {
  const p = new URLSearchParams();
  for (const key of Object.keys(KEYS) as (keyof UrlState)[]) {
    const value = state[key];
    if (key !== "run" && value === DEFAULTS[key]) continue;
    if (key === "view" && value === "matrix") continue;
    if ((key === "layer" || key === "head") && state.view !== "single") continue;
    p.set(KEYS[key], typeof value === "boolean" ? (value ? "1" : "0") : String(value));
  }
  return p.toString();
}
