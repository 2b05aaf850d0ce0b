// The layout vocabulary, mirrored from Python's `attentionviz.layouts.Layout`: a method in 2D or 3D,
// named `METHOD.2d` / `METHOD.3d` in routes, files and the app's state. The methods come from the
// reducer registry through the generated api.gen.ts; this is the frontend's one parser and
// formatter of layout keys.

import { LAYOUT_KEY, LAYOUT_METHODS } from "./api.gen";

export interface Layout {
  method: string;
  dim: number;
}

/** The layout methods, in menu order. */
export const METHODS: readonly { readonly id: string; readonly label: string; readonly onRequest: readonly number[] }[] =
  LAYOUT_METHODS;
export const DEFAULT_METHOD: string = METHODS[0].id;

export function layoutKey(method: string, dim: number): string {
  return `${method}.${dim}d`;
}

/** `tsne.2d` -> {method: "tsne", dim: 2}; null for anything that is not a layout key. */
export function parseLayout(key: string): Layout | null {
  const match = LAYOUT_KEY.exec(key);
  return match ? { method: match[1], dim: Number(match[2]) } : null;
}

export function isMethod(id: string): boolean {
  return METHODS.some((m) => m.id === id);
}

export function methodLabel(id: string): string {
  return METHODS.find((m) => m.id === id)?.label ?? id;
}

/** A layout key's place in menus and lists: the registry's method order, then 2D before 3D. */
export function layoutRank(key: string): number {
  const layout = parseLayout(key);
  if (!layout) return Number.MAX_SAFE_INTEGER;
  const method = METHODS.findIndex((m) => m.id === layout.method);
  return (method < 0 ? METHODS.length : method) * 4 + layout.dim;
}

/** "t-SNE 2D" */
export function layoutLabel(key: string): string {
  const layout = parseLayout(key);
  return layout ? `${methodLabel(layout.method)} ${layout.dim}D` : key;
}
