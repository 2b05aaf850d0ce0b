// What the Single View draws over its points while a sequence is selected: the rest faded, the
// sequence's query and key copies highlighted, the clicked point ringed, and attention lines from
// each query to its top-k keys (opacity by weight).

import type { Layer } from "@deck.gl/core";
import { LineLayer } from "@deck.gl/layers";
import { edited, linesOf, type Selection, type SelectionEdits } from "../app/selection.svelte";
import type { RunData } from "../data/run-data";
import { PointsLayer } from "../render/points-layer";
import { THEMES, type Theme } from "./common";

const inverses = new WeakMap<Uint32Array, Int32Array>();

/** Drawn index of each layout row (the inverse of the level-of-detail order). */
export function drawnIndex(data: RunData): Int32Array {
  let inverse = inverses.get(data.order);
  if (!inverse) {
    inverse = new Int32Array(data.order.length).fill(-1);
    data.order.forEach((row, i) => (inverse![row] = i));
    inverses.set(data.order, inverse);
  }
  return inverse;
}

export function selectionLayers(
  data: RunData,
  sel: Selection,
  edits: SelectionEdits,
  options: { theme: Theme; dim: number; rows: number; positions: Float32Array; worldOf: (index: number) => number[]; pointPixels?: number; id?: string },
): Layer[] {
  const { dim, positions, theme: themeName } = options;
  const id = options.id ?? "selection";
  const theme = THEMES[themeName];
  const inverse = drawnIndex(data);
  const world = (row: number): number[] | null => {
    const i = inverse[row];
    return i >= 0 && i < options.rows ? options.worldOf(i) : null;
  };
  const fade = new Uint8Array(options.rows * 4);
  for (let i = 0; i < options.rows; i++) fade.set([...theme.background.slice(0, 3), 205], i * 4);
  const points: number[] = [];
  const colors: number[] = [];
  for (let p = 0; p < sel.n; p++) {
    for (const [row, color] of [
      [sel.tokenStart + p, theme.queryLabel],
      [data.n + sel.tokenStart + p, theme.keyLabel],
    ] as const) {
      const w = world(row);
      if (!w) continue;
      points.push(...w);
      colors.push(...color);
    }
  }
  const matrix = edited(sel, edits) ?? sel.attention;
  const lines = linesOf(matrix, sel.n, { ...edits, hoverKey: edits.hoverKey, hoverQuery: edits.hoverQuery }, edits.k)
    .map((line) => ({
      from: world(sel.tokenStart + line.query),
      to: world(data.n + sel.tokenStart + line.key),
      weight: line.weight,
    }))
    .filter((line) => line.from && line.to);
  const ring = world(sel.row) ?? [0, 0, 0];
  const layers: Layer[] = [
    new PointsLayer({
      id: `${id}-fade`,
      data: { length: options.rows, attributes: { getPosition: { value: positions, size: dim }, getColor: { value: fade, size: 4 } } },
      dim,
      radius: options.pointPixels ? 100 : 0.3,
      minPixels: options.pointPixels ? options.pointPixels * 1.6 : 3,
      maxPixels: options.pointPixels ? options.pointPixels * 1.6 : 15,
    }),
    new LineLayer({
      id: `${id}-lines`,
      data: lines,
      getSourcePosition: (d: (typeof lines)[number]) => d.from as [number, number],
      getTargetPosition: (d: (typeof lines)[number]) => d.to as [number, number],
      getColor: (d: (typeof lines)[number]) => [...theme.text.slice(0, 3), Math.round(40 + 215 * d.weight)] as [number, number, number, number],
      getWidth: (d: (typeof lines)[number]) => 1 + 2 * d.weight,
      widthUnits: "pixels",
      parameters: { depthCompare: "always", depthWriteEnabled: false },
      updateTriggers: { getColor: [edits.log, themeName], getWidth: [edits.log] },
    }),
    new PointsLayer({
      id: `${id}-points`,
      data: {
        length: colors.length / 4,
        attributes: { getPosition: { value: new Float32Array(points), size: dim }, getColor: { value: new Uint8Array(colors), size: 4 } },
      },
      dim,
      radius: 0.6,
      minPixels: 7,
      maxPixels: 16,
    }),
  ];
  for (const [part, pixels, color] of [
    ["ring-outer", 22, theme.text],
    ["ring-inner", 16, theme.background],
    ["ring-dot", 10, sel.row >= data.n ? theme.keyLabel : theme.queryLabel],
  ] as const) {
    layers.push(
      new PointsLayer({
        id: `${id}-${part}`,
        data: {
          length: 1,
          attributes: {
            getPosition: { value: new Float32Array(ring.slice(0, dim)), size: dim },
            getColor: { value: new Uint8Array(color), size: 4 },
          },
        },
        dim,
        radius: 100,
        minPixels: pixels,
        maxPixels: pixels,
      }),
    );
  }
  return layers;
}
