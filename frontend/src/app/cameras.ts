// Where the controller puts the camera: the whole Matrix View's grid, or one head's Single View
// (the cell the head is drawn in, wider when run B's head stands beside it).

import type { Camera2D, Camera3D } from "../render/canvas";
import { CELL, gridSize, zoomToFit } from "../render/geometry";
import { singleExtent } from "../views/compare";
import type { Scrub } from "../views/scrub";
import { comparing } from "./compare.svelte";
import { app } from "./state.svelte";

/** Screen pixels around the Matrix View's grid: its layer headers on the left, head headers on top. */
export const MATRIX_MARGIN = { left: 44, top: 34, right: 12, bottom: 24 };

type Size = { width: number; height: number };

/** The whole grid in view, centred across, the first layer just under the column headers. */
export function matrixCamera({ width, height }: Size): Camera2D {
  const [w, h] = gridSize();
  const margin = MATRIX_MARGIN;
  const zoom = Math.min(zoomToFit(w, width - margin.left - margin.right), zoomToFit(h, height - margin.top - margin.bottom));
  const scale = 2 ** zoom;
  return { target: [w / 2 - (margin.left - margin.right) / 2 / scale, (height / 2 - margin.top) / scale, 0], zoom };
}

/** The open head's cell (the one a scrub started in) filling the view; tilted in 3D. */
export function singleCamera({ width, height }: Size, scrub: Scrub): Camera2D | Camera3D {
  const [layer, head] = scrub.cell(app.layer, app.head);
  const extent = singleExtent(layer, head, app.dim, comparing.other !== null);
  const zoom = (fill: number) => Math.min(zoomToFit(extent.width, width, fill), zoomToFit(CELL, height, fill));
  if (app.dim === 3) return { target: extent.centre, zoom: zoom(0.85), rotationX: 18, rotationOrbit: 35 };
  return { target: extent.centre, zoom: zoom(0.94) };
}
