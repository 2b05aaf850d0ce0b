// Matrix View: every head of the run as a small multiple in one deck.gl context. Rows = layers,
// columns = heads. Heads arrive a model layer at a time (one request per layer): first a small
// level-of-detail preview of every head, then each cell's share of the point budget. One point
// layer per model layer (its heads concatenated), so a layer arriving re-uploads one row only.
// Search hits are fetched by token for every head, so a hit the LOD sample leaves out is drawn too.

import type { Layer } from "@deck.gl/core";
import type { RunData } from "../data/run-data";
import type { HeadLayout, LayerRows } from "../data/types";
import { colorRows } from "../render/colors";
import { CELL, cellOrigin, cellShown, layerInView, placeInCell } from "../render/geometry";
import { PointsLayer } from "../render/points-layer";
import { THEMES, type DrawSettings } from "./common";
import { cellShare, DEFAULT_POINT_BUDGET, previewShare, zoomShare } from "./lod";

/** Points drawn in the Matrix View before cells switch to level-of-detail samples. */
/**
 * The same where WebGL runs in software (no GPU: VMs, headless browsers). A frame costs about a
 * microsecond per point there; 200k points fill a 1280 x 800 matrix's cells as densely as the
 * pixels show (1,388 points in each 48-pixel cell of 12 x 12 heads).
 */
export const SOFTWARE_POINT_BUDGET = 200_000;
/** Search-hit tokens per request (the query string stays a few kB). */
const HIT_CHUNK = 800;

/** Whether this browser renders WebGL on the CPU (SwiftShader, llvmpipe). */
export function softwareRenderer(): boolean {
  try {
    const gl = document.createElement("canvas").getContext("webgl2");
    if (!gl) return true;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return /swiftshader|llvmpipe|software|softpipe/i.test(name);
  } catch {
    return false;
  }
}

type Binary = { length: number; attributes: Record<string, { value: Float32Array | Uint8Array; size: number }> };

/** One head's first `loaded` rows in level-of-detail order, as layout coordinates [capacity, 2]. */
interface HeadRows {
  coords: Float32Array;
  loaded: number;
  bounds: [number, number][];
  /** [perCell] q/k norms of the first rows (colour by norm) */
  norms: Float32Array | null;
  /** the head's layout was replaced (its coarse layout refined): these rows are drawn until new ones arrive */
  stale?: boolean;
}

/** Every search hit of one head: layout coordinates [hits, 2] and whether each is a key copy. */
interface HeadHits {
  coords: Float32Array;
  isKey: Uint8Array;
}

export class MatrixView {
  readonly perCell: number;
  /** rows per cell in the preview paint */
  readonly preview: number;
  private heads = new Map<number, HeadRows>();
  private rows: { version: number; built: number; data: Binary | null }[];
  private colorKey = "";
  private cellColors: Uint8Array | null = null;
  private version = 0;
  private hitsFor: Uint8Array | null = null;
  private hitRows = new Map<number, HeadHits>();
  private hitsExact = false;
  private hitsData: Binary | null = null;
  private hitsKey = "";
  /** world rectangle [x0, y0, x1, y1] on screen (null: the whole grid) and rows per visible cell */
  private view: [number, number, number, number] | null = null;
  private zoomed = new Map<number, number>();
  private refining: AbortController | null = null;

  constructor(
    readonly data: RunData,
    readonly key: string,
    private readonly budget = DEFAULT_POINT_BUDGET,
  ) {
    const cells = Math.max(data.layers * data.heads, 1);
    this.perCell = cellShare(budget, cells, 2 * data.n);
    this.preview = previewShare(this.perCell, cells);
    this.rows = Array.from({ length: data.layers }, () => ({ version: 0, built: -1, data: null }));
  }

  get lod(): boolean {
    return this.perCell < 2 * this.data.n;
  }

  /** Heads (layer * heads + head) this view can draw: those with the layout. */
  get expected(): number[] {
    return [...this.data.available(this.key)].sort((a, b) => a - b);
  }

  /**
   * Heads whose layout file was replaced (a coarse layout refined to full resolution): their rows
   * are fetched again by the next `load`, and drawn as they are until then.
   */
  invalidate(indices: number[]): void {
    for (const index of indices) {
      const rows = this.heads.get(index);
      if (rows) rows.stale = true;
    }
    this.hitsFor = null;
  }

  /** Heads drawn with their full share of the budget. */
  get loaded(): number {
    let done = 0;
    for (const head of this.heads.values()) if (head.loaded >= this.perCell && !head.stale) done++;
    return done;
  }

  /**
   * Fetch every head's rows a layer at a time: the preview for the whole grid first, then the
   * rest of each cell's share, the norms when colouring by norm, and the search hits.
   * `onProgress` runs after each answer; `onPreview` once every cell has its preview.
   */
  async load(
    settings: DrawSettings,
    onProgress: () => void,
    signal: AbortSignal,
    onPreview?: () => void,
  ): Promise<void> {
    const byLayer = new Map<number, number[]>();
    for (const index of this.expected) {
      const layer = Math.floor(index / this.data.heads);
      byLayer.set(layer, [...(byLayer.get(layer) ?? []), index % this.data.heads]);
    }
    await this.fetchRows(byLayer, this.preview, onProgress, signal);
    if (signal.aborted) return;
    onPreview?.();
    await this.fetchRows(byLayer, this.perCell, onProgress, signal);
    if (signal.aborted) return;
    for (const [layer, heads] of byLayer) {
      for (const h of heads) {
        const rows = this.heads.get(layer * this.data.heads + h)!;
        this.data.remember(layer, h, this.key, this.perCell, this.layoutOf(rows, this.perCell));
      }
    }
    if (settings.color === "norm") await this.fetchNorms(byLayer, onProgress, signal);
    if (settings.hits && settings.hits !== this.hitsFor) await this.fetchHits(settings.hits, byLayer, signal);
  }

  private async fetchRows(
    byLayer: Map<number, number[]>,
    upTo: number,
    onProgress: () => void,
    signal: AbortSignal,
  ): Promise<void> {
    await Promise.all(
      [...byLayer].map(async ([layer, heads]) => {
        const have = (h: number) => {
          const rows = this.heads.get(layer * this.data.heads + h);
          return rows && !rows.stale ? rows.loaded : 0;
        };
        const need = heads.filter((h) => have(h) < upTo);
        if (!need.length) return;
        const start = Math.min(...need.map(have));
        const answer = await this.data.layerLayout(layer, this.key, {
          start,
          limit: upTo - start,
          heads: need.length === this.data.heads ? undefined : need,
          signal,
        });
        if (signal.aborted) return;
        this.merge(layer, answer);
        onProgress();
      }),
    );
  }

  /** Append an answer's LOD rows to each head's prefix (rows before the prefix's end are kept). */
  private merge(layer: number, answer: LayerRows): void {
    if (answer.order !== "lod") return;
    for (const h of answer.heads) {
      const index = layer * this.data.heads + h;
      const values = answer.values.get(h)!;
      const old = this.heads.get(index);
      const loaded = old && !old.stale ? old.loaded : 0;
      if (answer.start > loaded || answer.start + answer.count <= loaded) continue;
      const end = answer.start + answer.count;
      let coords = old?.coords ?? new Float32Array(0);
      if (coords.length < end * 2) {
        const grown = new Float32Array(Math.max(end, this.perCell) * 2);
        grown.set(coords.subarray(0, loaded * 2));
        coords = grown;
      }
      if (old?.stale) coords = new Float32Array(Math.max(end, this.perCell) * 2); // the old rows are drawn until now
      coords.set(values.subarray((loaded - answer.start) * 2, answer.count * 2), loaded * 2);
      this.heads.set(index, { coords, loaded: end, bounds: answer.bounds.get(h) ?? [], norms: old?.norms ?? null });
    }
    this.rows[layer].version++;
    this.version++;
  }

  private async fetchNorms(byLayer: Map<number, number[]>, onProgress: () => void, signal: AbortSignal): Promise<void> {
    await Promise.all(
      [...byLayer].map(async ([layer, heads]) => {
        const need = heads.filter((h) => !this.heads.get(layer * this.data.heads + h)?.norms);
        if (!need.length) return;
        const answer = await this.data.layerNorms(layer, {
          limit: this.perCell,
          heads: need.length === this.data.heads ? undefined : need,
          signal,
        });
        if (signal.aborted || answer.order !== "lod" || answer.start !== 0) return;
        for (const h of answer.heads) {
          const rows = this.heads.get(layer * this.data.heads + h);
          if (rows) rows.norms = answer.values.get(h)!;
        }
        this.rows[layer].version++;
        this.version++;
        onProgress();
      }),
    );
  }

  /**
   * Every head's coordinates of every hit token (query and key rows), a layer and a few hundred
   * tokens per request. Beyond what the budget can draw, only the hits in the LOD sample are shown.
   */
  private async fetchHits(hits: Uint8Array, byLayer: Map<number, number[]>, signal: AbortSignal): Promise<void> {
    const tokens: number[] = [];
    for (let t = 0; t < hits.length; t++) if (hits[t]) tokens.push(t);
    const cells = Math.max(this.expected.length, 1);
    const room = Math.min(20_000, Math.max(200, Math.floor(this.budget / (2 * cells))));
    const found = new Map<number, { coords: number[]; isKey: number[] }>();
    this.hitsExact = tokens.length <= room;
    if (this.hitsExact && tokens.length) {
      const n = this.data.n;
      const rank = this.data.rank;
      await Promise.all(
        [...byLayer].map(async ([layer, heads]) => {
          for (let from = 0; from < tokens.length; from += HIT_CHUNK) {
            const chunk = tokens.slice(from, from + HIT_CHUNK);
            const answer = await this.data.layerLayout(layer, this.key, {
              tokens: chunk,
              heads: heads.length === this.data.heads ? undefined : heads,
              signal,
            });
            if (signal.aborted) return;
            // a static host answers with every row in LOD order: pick the hit rows by their rank
            const everything = answer.order === "lod" && answer.start === 0 && answer.count >= 2 * n;
            const wanted = everything ? tokens : chunk;
            for (const h of answer.heads) {
              const values = answer.values.get(h)!;
              const entry = found.get(layer * this.data.heads + h) ?? { coords: [], isKey: [] };
              found.set(layer * this.data.heads + h, entry);
              if (answer.order === "tokens") {
                const rows = answer.rows!;
                for (let i = 0; i < answer.count; i++) {
                  entry.coords.push(values[i * 2], values[i * 2 + 1]);
                  entry.isKey.push(rows[i] >= n ? 1 : 0);
                }
              } else {
                for (const t of wanted) {
                  for (const row of [t, t + n]) {
                    const i = rank[row] - answer.start;
                    if (i < 0 || i >= answer.count) continue;
                    entry.coords.push(values[i * 2], values[i * 2 + 1]);
                    entry.isKey.push(row >= n ? 1 : 0);
                  }
                }
              }
            }
            if (everything) return;
          }
        }),
      );
      if (signal.aborted) return;
    }
    this.hitRows = new Map([...found].map(([index, e]) => [index, { coords: new Float32Array(e.coords), isKey: new Uint8Array(e.isKey) }]));
    this.hitsFor = hits;
    this.version++;
  }

  /**
   * Follow the camera: rows of the grid off screen are not drawn, and cells on screen share the
   * point budget, fetching more of their LOD rows (up to every point) when few are in view.
   * Resolves true when more rows arrived (redraw then).
   */
  async refine(view: [number, number, number, number]): Promise<boolean> {
    this.view = view;
    const visible = this.expected.filter((index) => this.onScreen(Math.floor(index / this.data.heads), index % this.data.heads));
    const share = zoomShare(this.budget, visible.length, 2 * this.data.n);
    this.zoomed = share > this.perCell ? new Map(visible.map((index) => [index, share])) : new Map();
    for (const row of this.rows) row.version++;
    this.version++;
    if (share <= this.perCell) return false;
    this.refining?.abort();
    const refining = new AbortController();
    this.refining = refining;
    const byLayer = new Map<number, number[]>();
    for (const index of visible) {
      if ((this.heads.get(index)?.loaded ?? 0) >= share) continue;
      const layer = Math.floor(index / this.data.heads);
      byLayer.set(layer, [...(byLayer.get(layer) ?? []), index % this.data.heads]);
    }
    if (!byLayer.size) return true;
    try {
      await this.fetchRows(byLayer, share, () => undefined, refining.signal);
    } catch (error) {
      if (refining.signal.aborted) return false;
      throw error;
    }
    return !refining.signal.aborted;
  }

  /** Rows drawn per cell in view when zoomed in beyond the grid's LOD share (0: not zoomed in). */
  get inView(): number {
    return Math.max(0, ...this.zoomed.values());
  }

  /** Back to the whole grid at its LOD share (the camera is moving to fit it). */
  showAll(): void {
    this.refining?.abort();
    this.view = null;
    this.zoomed = new Map();
    for (const row of this.rows) row.version++;
    this.version++;
  }

  private onScreen(layer: number, head: number): boolean {
    if (!this.view) return true;
    const [x0, y0, x1, y1] = this.view;
    const [cx, cy] = cellOrigin(layer, head);
    return cx + CELL >= x0 && cx <= x1 && cy + CELL >= y0 && cy <= y1;
  }

  layers(settings: DrawSettings): Layer[] {
    const colorKey = `${settings.color}|${settings.hits ? "h" : ""}|${this.version}`;
    if (colorKey !== this.colorKey) {
      this.colorKey = colorKey;
      this.cellColors =
        settings.color === "norm" ? null : colorRows(settings.color, this.data, this.perCell, { hits: settings.hits });
      for (const row of this.rows) row.built = -1;
    }
    const out: Layer[] = [];
    this.rows.forEach((row, layer) => {
      if (this.view && !layerInView(layer, this.view)) return; // off screen
      this.buildRow(layer, row, settings);
      if (!row.data || row.data.length === 0) return;
      out.push(new PointsLayer({ id: `matrix-points-${layer}`, data: row.data, radius: 0.32, minPixels: 1, maxPixels: 5 }));
    });
    const hits = this.hitsLayer(settings);
    if (hits) out.push(hits);
    return out;
  }

  private buildRow(layer: number, row: { version: number; built: number; data: Binary | null }, settings: DrawSettings): void {
    if (row.built === row.version) return;
    row.built = row.version;
    const drawn: [number, HeadRows, number][] = [];
    let total = 0;
    for (let h = 0; h < this.data.heads; h++) {
      const head = this.heads.get(layer * this.data.heads + h);
      if (!head || !head.loaded || !cellShown(layer, h)) continue;
      const share = settings.color === "norm" ? this.perCell : (this.zoomed.get(layer * this.data.heads + h) ?? this.perCell);
      const count = Math.min(head.loaded, share);
      drawn.push([h, head, count]);
      total += count;
    }
    const positions = new Float32Array(total * 2);
    const colors = new Uint8Array(total * 4);
    let offset = 0;
    for (const [h, head, count] of drawn) {
      placeInCell(this.layoutOf(head, count), layer, h, positions, offset * 2);
      const cellColors =
        this.cellColors && count <= this.perCell
          ? this.cellColors
          : colorRows(settings.color, this.data, count, { norms: head.norms, hits: settings.hits });
      colors.set(cellColors.subarray(0, count * 4), offset * 4);
      offset += count;
    }
    row.data = { length: total, attributes: { getPosition: { value: positions, size: 2 }, getColor: { value: colors, size: 4 } } };
  }

  /** World positions [rows, 2] of the rows cell (layer, head) draws now (empty when it draws none). */
  cellPositions(layer: number, head: number): Float32Array {
    const rows = this.heads.get(layer * this.data.heads + head);
    if (!rows) return new Float32Array(0);
    return placeInCell(this.layoutOf(rows, Math.min(rows.loaded, this.perCell)), layer, head);
  }

  private layoutOf(head: HeadRows, rows: number): HeadLayout {
    return { key: this.key, dim: 2, rows, coords: head.coords.subarray(0, rows * 2), bounds: head.bounds };
  }

  private hitsLayer(settings: DrawSettings): Layer | null {
    const { hits } = settings;
    if (!hits) return null;
    const stamp = `${this.version}|${settings.theme}|${this.hitsFor === hits}`;
    if (this.hitsKey !== stamp || !this.hitsData) {
      this.hitsKey = stamp;
      this.hitsData = this.hitsFor === hits && this.hitsExact ? this.hitPoints(this.hitRows, settings) : this.sampledHits(settings);
    }
    return new PointsLayer({ id: "matrix-hits", data: this.hitsData, radius: 0.9, minPixels: 3, maxPixels: 8 });
  }

  /** Hits placed in their cells, coloured as query or key copies. */
  private hitPoints(found: Map<number, HeadHits>, settings: DrawSettings): Binary {
    const theme = THEMES[settings.theme];
    let total = 0;
    for (const h of found.values()) total += h.isKey.length;
    const positions = new Float32Array(total * 2);
    const colors = new Uint8Array(total * 4);
    let offset = 0;
    for (const [index, hit] of found) {
      const head = this.heads.get(index);
      const layer = Math.floor(index / this.data.heads);
      if (!head || !cellShown(layer, index % this.data.heads)) continue;
      const count = hit.isKey.length;
      const layout = { key: this.key, dim: 2, rows: count, coords: hit.coords, bounds: head.bounds };
      placeInCell(layout, layer, index % this.data.heads, positions, offset * 2);
      for (let i = 0; i < count; i++) colors.set(hit.isKey[i] ? theme.keyHit : theme.queryHit, (offset + i) * 4);
      offset += count;
    }
    return {
      length: offset,
      attributes: {
        getPosition: { value: positions.subarray(0, offset * 2), size: 2 },
        getColor: { value: colors.subarray(0, offset * 4), size: 4 },
      },
    };
  }

  /** The hits among the drawn LOD rows (while the exact ones load, or when there are too many). */
  private sampledHits(settings: DrawSettings): Binary {
    const hits = settings.hits!;
    const n = this.data.n;
    const found = new Map<number, HeadHits>();
    for (const [index, head] of this.heads) {
      const count = Math.min(head.loaded, this.perCell);
      const coords: number[] = [];
      const isKey: number[] = [];
      for (let i = 0; i < count; i++) {
        const r = this.data.order[i];
        if (!hits[r >= n ? r - n : r]) continue;
        coords.push(head.coords[i * 2], head.coords[i * 2 + 1]);
        isKey.push(r >= n ? 1 : 0);
      }
      if (isKey.length) found.set(index, { coords: new Float32Array(coords), isKey: new Uint8Array(isKey) });
    }
    return this.hitPoints(found, settings);
  }
}
