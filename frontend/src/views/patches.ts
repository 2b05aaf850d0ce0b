// Image runs: each point drawn as its patch thumbnail (a tile of the run's patch atlas), over a
// disc in the point's colour (query vs. key by default) so the two copies stay apart; the Single
// View can also tint the thumbnails with that colour instead ("fill") or show them plain. The
// Single View draws every point so; the Matrix View does once its cells are big enough to tell
// patches apart (MatrixPatches: its own placement of the same level-of-detail rows, one layer pair
// per model layer, sized in world units so zooming needs no rebuild). During a search the other
// patches fade and each hit sits on a halo of its query or key highlight colour.

import type { Layer } from "@deck.gl/core";
import { IconLayer } from "@deck.gl/layers";
import type { PatchStyle } from "../app/url";
import type { RunData } from "../data/run-data";
import { colorRows, type ColorMode } from "../render/colors";
import { CELL, placeInCell } from "../render/geometry";
import { PointsLayer } from "../render/points-layer";
import { THEMES, tokenOf, type Theme } from "./common";

const TILE = 16;
/** the disc behind a thumbnail, as a multiple of the thumbnail's side: a visible ring around it */
const RING = 1.45;
const atlases = new Map<string, Promise<HTMLImageElement>>();
const loaded = new Map<string, HTMLImageElement>();

/** Load (once) the patch atlas at `url`; resolves when the image is decoded. */
export function loadAtlas(url: string): Promise<HTMLImageElement> {
  let promise = atlases.get(url);
  if (!promise) {
    promise = new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => {
        loaded.set(url, image);
        resolve(image);
      };
      image.onerror = () => reject(new Error(`cannot load the patch atlas ${url}`));
      image.src = url;
    });
    atlases.set(url, promise);
  }
  return promise;
}

/** The atlas at `url` if it has finished loading. */
export function atlasFor(url: string): HTMLImageElement | null {
  return loaded.get(url) ?? null;
}

type Mapping = Record<string, { x: number; y: number; width: number; height: number }>;
const mappings = new WeakMap<HTMLImageElement, Mapping>();

function mappingOf(atlas: HTMLImageElement, n: number): Mapping {
  let mapping = mappings.get(atlas);
  if (!mapping) {
    const columns = Math.max(1, Math.floor(atlas.naturalWidth / TILE));
    mapping = {};
    for (let t = 0; t < n; t++) mapping[t] = { x: (t % columns) * TILE, y: Math.floor(t / columns) * TILE, width: TILE, height: TILE };
    mappings.set(atlas, mapping);
  }
  return mapping;
}

/**
 * Per-row disc colours: the colour mode's (query vs. key where it needs norms that are not here),
 * faded but for the search hits while a search is on.
 */
function ringColors(data: RunData, rows: number, color: ColorMode, norms: Float32Array | null, hits: Uint8Array | null): Uint8Array {
  return colorRows(color === "norm" && !norms ? "query_key" : color, data, rows, { norms, hits });
}

/** While a search is on: a disc in the theme's hit colour under each hit (`positions` [rows, dim]). */
function hitHalos(
  id: string,
  data: RunData,
  hits: Uint8Array,
  points: { positions: Float32Array; dim: number; rows: number },
  theme: Theme,
  size: { units: "pixels" | "common"; value: number; minPixels: number; maxPixels: number },
): Layer {
  const { keyHit, queryHit } = THEMES[theme];
  const positions: number[] = [];
  const colors: number[] = [];
  for (let i = 0; i < points.rows; i++) {
    const { token, isKey } = tokenOf(data, data.order[i]);
    if (!hits[token]) continue;
    for (let a = 0; a < points.dim; a++) positions.push(points.positions[i * points.dim + a]);
    colors.push(...(isKey ? keyHit : queryHit));
  }
  const halo = 2 * RING;
  return new PointsLayer({
    id: `${id}-hit-halos`,
    data: {
      length: colors.length / 4,
      attributes: { getPosition: { value: new Float32Array(positions), size: points.dim }, getColor: { value: new Uint8Array(colors), size: 4 } },
    },
    dim: points.dim,
    radius: size.units === "common" ? (size.value * halo) / 2 : 100,
    minPixels: size.minPixels * halo,
    maxPixels: size.maxPixels * halo,
  });
}

interface Thumb {
  position: [number, number];
  icon: string;
}

/** An icon layer whose icons take `tint` (0..1) of their point's colour (getColor). */
class TintedIconLayer extends IconLayer<Thumb, { tint: number }> {
  static override layerName = "TintedIconLayer";

  override getShaders() {
    const shaders = super.getShaders();
    const tint = Math.min(1, Math.max(0, this.props.tint)).toFixed(3);
    return { ...shaders, inject: { ...shaders.inject, "fs:#main-end": `fragColor.rgb = mix(fragColor.rgb, vColor.rgb, ${tint});` } };
  }
}

/**
 * A disc layer and a thumbnail layer over the same points (`size`: the thumbnail's side); with
 * `tint`, each thumbnail also takes that much of its point's colour, for thumbnails so small or
 * crowded that their neighbours cover the rings; `discs: false` leaves the discs out. Each
 * thumbnail takes its point's alpha (faded outside a search's hits).
 */
function thumbnailLayers(
  id: string,
  data: RunData,
  atlas: HTMLImageElement,
  points: { positions: Float32Array; colors: Uint8Array; dim: number; thumbs: Thumb[] },
  size: { units: "pixels" | "common"; value: number; minPixels: number; maxPixels: number },
  { tint = 0, discs = true }: { tint?: number; discs?: boolean } = {},
): Layer[] {
  const colors = points.colors;
  const out: Layer[] = [];
  if (discs) {
    out.push(new PointsLayer({
      id: `${id}-borders`,
      data: { length: points.thumbs.length, attributes: { getPosition: { value: points.positions, size: points.dim }, getColor: { value: colors, size: 4 } } },
      dim: points.dim,
      radius: size.units === "common" ? (size.value * RING) / 2 : 100,
      minPixels: size.minPixels * RING,
      maxPixels: size.maxPixels * RING,
    }));
  }
  out.push(
    new TintedIconLayer({
      id: `${id}-thumbnails`,
      data: points.thumbs,
      tint,
      iconAtlas: atlas as unknown as string,
      iconMapping: mappingOf(atlas, data.n),
      getIcon: (d: Thumb) => d.icon,
      getPosition: (d: Thumb) => d.position,
      getColor: (_: Thumb, { index }: { index: number }) => [colors[index * 4], colors[index * 4 + 1], colors[index * 4 + 2], colors[index * 4 + 3] > 128 ? 255 : colors[index * 4 + 3]],
      getSize: size.value,
      sizeUnits: size.units,
      sizeMinPixels: size.minPixels,
      sizeMaxPixels: size.maxPixels,
      textureParameters: { minFilter: "nearest", magFilter: "nearest" },
      // the points layer projects with its own matrix: never let its depth hide a thumbnail
      parameters: { depthCompare: "always", depthWriteEnabled: false },
      updateTriggers: { getColor: [colors] },
    }),
  );
  return out;
}

const singleCache = new WeakMap<Float32Array, { key: string; hits: Uint8Array | null; layers: Layer[] }>();

/** How strongly a Single View thumbnail takes its point's colour in the "fill" style. */
const FILL_TINT = 0.45;

/**
 * The Single View's points as thumbnails (`pixels` on a side, whatever the zoom) in `style`
 * (over a disc of their colour, tinted by it, or plain); the same layers while the points, their
 * colouring and the search stay (a hover redraws without re-reading every thumbnail).
 */
export function patchLayers(
  data: RunData,
  atlas: HTMLImageElement,
  options: {
    color: ColorMode;
    norms: Float32Array | null;
    dim: number;
    rows: number;
    positions: Float32Array;
    worldOf: (index: number) => number[];
    style: PatchStyle;
    hits: Uint8Array | null;
    theme: Theme;
    pixels?: number;
  },
): Layer[] {
  const pixels = options.pixels ?? 14;
  const { hits, style, theme } = options;
  const key = `${options.color}|${options.norms ? 1 : 0}|${options.rows}|${pixels}|${atlas.src}|${style}|${theme}`;
  const cached = singleCache.get(options.positions);
  if (cached?.key === key && cached.hits === hits) return cached.layers;
  const thumbs: Thumb[] = [];
  for (let i = 0; i < options.rows; i++) {
    thumbs.push({ position: options.worldOf(i) as [number, number], icon: String(tokenOf(data, data.order[i]).token) });
  }
  const colors = ringColors(data, options.rows, options.color, options.norms, hits);
  const size = { units: "pixels", value: pixels, minPixels: pixels, maxPixels: pixels } as const;
  const points = { positions: options.positions, colors, dim: options.dim, thumbs };
  const id = `patch-${style}`; // a tint is compiled into the layer's shader: a new style, a new layer
  const layers = [
    ...(hits ? [hitHalos(id, data, hits, { ...points, rows: options.rows }, theme, size)] : []),
    ...thumbnailLayers(id, data, atlas, points, size, { tint: style === "fill" ? FILL_TINT : 0, discs: style === "outline" }),
  ];
  singleCache.set(options.positions, { key, hits, layers });
  return layers;
}

/** Matrix cells at least this many screen pixels wide draw their points as thumbnails. */
export const MATRIX_THUMBNAIL_CELL_PIXELS = 110;
/** Thumbnails drawn in the whole matrix at most (each cell a level-of-detail prefix). */
const MATRIX_THUMBNAIL_BUDGET = 60_000;
/** A thumbnail's side in world units (a cell is CELL wide): 7.5 px in a 150 px cell. */
const MATRIX_THUMBNAIL_SIZE = CELL / 20;
/** How strongly a matrix thumbnail takes its point's colour (query vs. key by default). */
const MATRIX_TINT = 0.35;

/** The Matrix View's thumbnails: every loaded head's first rows, placed as the matrix places them. */
export class MatrixPatches {
  private placed = new Map<number, Float32Array>();
  private cache: { stamp: string; hits: Uint8Array | null; layers: Layer[] } | null = null;
  private shown = false;

  constructor(
    readonly data: RunData,
    readonly key: string,
    /** the rows per cell the Matrix View fetched (its layout cache key) */
    readonly perCell: number,
    readonly atlasUrl: string,
  ) {}

  /** Whether thumbnails belong in the picture at camera zoom `zoom` (cells big enough, atlas here). */
  shownAt(zoom: number): boolean {
    return CELL * 2 ** zoom >= MATRIX_THUMBNAIL_CELL_PIXELS && atlasFor(this.atlasUrl) !== null;
  }

  /** Whether a camera at `zoom` shows or hides thumbnails that the last picture did not. */
  changedAt(zoom: number): boolean {
    return this.shownAt(zoom) !== this.shown;
  }

  /**
   * The matrix's `layers` with the thumbnails over its points when they are shown; during a search
   * the other thumbnails fade, the hits sit on halos, and the matrix's hit points stay on top.
   */
  over(layers: Layer[], zoom: number, color: ColorMode, hits: Uint8Array | null = null, theme: Theme = "light"): Layer[] {
    this.shown = this.shownAt(zoom);
    if (!this.shown) return layers;
    const found = layers.filter((layer) => layer.id === "matrix-hits");
    return [...layers.filter((layer) => layer.id !== "matrix-hits"), ...this.layers(atlasFor(this.atlasUrl)!, color, hits, theme), ...found];
  }

  /** Rows drawn as thumbnails in each cell. */
  get rows(): number {
    const cells = Math.max(1, this.data.layers * this.data.heads);
    return Math.max(1, Math.min(this.perCell, Math.floor(MATRIX_THUMBNAIL_BUDGET / cells)));
  }

  /** Load the atlas and place every head the matrix has loaded (their layouts come from the run's cache). */
  async load(signal: AbortSignal): Promise<void> {
    const heads = [...this.data.available(this.key)].filter((i) => !this.placed.has(i));
    await loadAtlas(this.atlasUrl);
    await Promise.all(
      heads.map(async (index) => {
        const layer = Math.floor(index / this.data.heads);
        const head = index % this.data.heads;
        const layout = await this.data.layout(layer, head, this.key, this.perCell);
        if (signal.aborted) return;
        const rows = Math.min(this.rows, layout.rows);
        this.placed.set(index, placeInCell({ ...layout, rows }, layer, head)); // [rows, 2]
        this.cache = null;
      }),
    );
  }

  private layers(atlas: HTMLImageElement, color: ColorMode, hits: Uint8Array | null, theme: Theme): Layer[] {
    const stamp = `${color}|${this.placed.size}|${theme}`;
    if (this.cache?.stamp === stamp && this.cache.hits === hits) return this.cache.layers;
    const colorsOfCell = ringColors(this.data, this.rows, color, null, hits);
    const out: Layer[] = [];
    for (let layer = 0; layer < this.data.layers; layer++) {
      const cells: Float32Array[] = [];
      for (let head = 0; head < this.data.heads; head++) {
        const placed = this.placed.get(layer * this.data.heads + head);
        if (placed) cells.push(placed);
      }
      const total = cells.reduce((sum, p) => sum + p.length / 2, 0);
      if (!total) continue;
      const positions = new Float32Array(total * 2);
      const colors = new Uint8Array(total * 4);
      const thumbs: Thumb[] = [];
      let offset = 0;
      for (const placed of cells) {
        const rows = placed.length / 2;
        positions.set(placed, offset * 2);
        colors.set(colorsOfCell.subarray(0, rows * 4), offset * 4);
        for (let i = 0; i < rows; i++) {
          thumbs.push({
            position: [placed[i * 2], placed[i * 2 + 1]],
            icon: String(tokenOf(this.data, this.data.order[i]).token),
          });
        }
        offset += rows;
      }
      const size = { units: "common", value: MATRIX_THUMBNAIL_SIZE, minPixels: 3, maxPixels: 28 } as const;
      if (hits) out.push(hitHalos(`matrix-patch-${layer}`, this.data, hits, { positions, dim: 2, rows: total }, theme, size));
      out.push(...thumbnailLayers(`matrix-patch-${layer}`, this.data, atlas, { positions, colors, dim: 2, thumbs }, size, { tint: MATRIX_TINT }));
    }
    this.cache = { stamp, hits, layers: out };
    return out;
  }
}
