// What the app picks for the user when a run opens: the projection to show (one that every head
// has, while a slower one is still being computed) and the settings that keep their meaning on the
// run (a text search or a text colouring means nothing on an image run). choices.test.ts checks them.

import { colorModesFor } from "../render/colors";
import { layoutKey, methodLabel, METHODS } from "../data/layout";
import { DEFAULTS, type UrlState } from "./url";

export interface LayoutChoice {
  method: string;
  dim: number;
  /** the method asked for, when another is shown because it covers more heads (else null) */
  waitingFor: string | null;
}

/**
 * The projection to open on. The one asked for if every head has it in 2D (or no other covers
 * more heads); else the method whose 2D layout covers the most heads, in menu order on ties, so a
 * run still being embedded opens on a full grid rather than a few cells among placeholders. The
 * dimension asked for is kept where the chosen method has it.
 */
export function chooseLayout(
  layouts: Record<string, number[]>,
  total: number,
  wanted: { method: string; dim: number },
): LayoutChoice {
  const coverage = (method: string, dim: number) => (layouts[layoutKey(method, dim)] ?? []).length;
  let best = wanted.method;
  for (const { id } of METHODS) if (coverage(id, 2) > coverage(best, 2)) best = id;
  const method = coverage(wanted.method, 2) >= Math.min(total, coverage(best, 2)) ? wanted.method : best;
  return {
    method,
    dim: coverage(method, wanted.dim) > 0 ? wanted.dim : 2,
    waitingFor: method === wanted.method ? null : wanted.method,
  };
}

/**
 * The settings to change when the app opens a run of kind `kind` (`previous`: the kind of the run
 * shown before, null on the first open): a colouring the run does not offer goes back to the
 * default; token labels take the kind's default (off for images, whose patches clutter with them)
 * unless the URL set them or the kind did not change; a search typed for a run of another kind is
 * cleared.
 */
export function settingsForRun(
  kind: string,
  previous: string | null,
  state: Pick<UrlState, "color" | "labels" | "search">,
  given: ReadonlySet<keyof UrlState> = new Set(),
): Partial<UrlState> {
  const change: Partial<UrlState> = {};
  if (!colorModesFor(kind).some((mode) => mode.id === state.color)) change.color = DEFAULTS.color;
  const labels = kind !== "image";
  const keepLabels = previous === null ? given.has("labels") : previous === kind;
  if (!keepLabels && state.labels !== labels) change.labels = labels;
  if (previous !== null && previous !== kind && state.search) change.search = "";
  return change;
}

/**
 * Why `method` cannot be shown in `dim` dimensions, and how to get it ("" when some head has it):
 * still being computed, made only on request (the registry's `on_request`), or not made for this run.
 */
export function missingLayoutNote(layouts: Record<string, number[]>, method: string, dim: number): string {
  const key = layoutKey(method, dim);
  const heads = layouts[key];
  const name = `${dim}D ${methodLabel(method)}`;
  const command = `attentionviz embed RUN --layouts ${key}`;
  if (heads === undefined) {
    const onRequest = METHODS.find((m) => m.id === method)?.onRequest.includes(dim) ?? false;
    return onRequest
      ? `${name} is made only when asked for by name: it takes several times as long as ${methodLabel(method)} in 2D for what it adds. Make it with: ${command}`
      : `This run has no ${name} layout. Make it with: ${command}`;
  }
  return heads.length === 0 ? `${name} is being computed; no head has it yet.` : "";
}
