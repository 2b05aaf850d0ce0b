// Matrix View: every head of the run as a small multiple in one deck.gl context. Rows = layers,
// columns = heads. One point layer per model layer (its heads concatenated), so a head arriving
// re-uploads one row only. Above the point budget each cell draws a level-of-detail prefix.

import type { Layer } from "@deck.gl/core";
import type { RunData } from "../data/run-data";
import type { Layout } from "../data/types";
import { colorRows } from "../render/colors";
import { placeInCell } from "../render/geometry";
import { PointsLayer } from "../render/points-layer";
import { THEMES, type DrawSettings } from "./common";

/** Points drawn in the Matrix View before cells switch to level-of-detail samples. */
export const DEFAULT_POINT_BUDGET = 1_500_000;
/** The same where WebGL runs in software (no GPU: VMs, headless browsers), about a second per frame. */
export const SOFTWARE_POINT_BUDGET = 500_000;

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

interface RowState {
  version: number;
  built: number;
  heads: number[];
  positions: Float32Array;
  colors: Uint8Array;
  data: { length: number; attributes: Record<string, { value: Float32Array | Uint8Array; size: number }> } | null;
}

export class MatrixView {
  readonly perCell: number;
  private layouts = new Map<number, Layout>();
  private norms = new Map<number, Float32Array>();
  private rows: RowState[];
  private colorKey = "";
  private cellColors: Uint8Array | null = null;
  private hitsData: { length: number; attributes: Record<string, { value: Float32Array | Uint8Array; size: number }> } | null = null;
  private hitsVersion = -1;
  private version = 0;

  constructor(
    readonly data: RunData,
    readonly key: string,
    budget = DEFAULT_POINT_BUDGET,
  ) {
    const cells = data.layers * data.heads;
    this.perCell = Math.max(64, Math.min(2 * data.n, Math.floor(budget / Math.max(cells, 1))));
    this.rows = Array.from({ length: data.layers }, () => ({
      version: 0,
      built: -1,
      heads: [],
      positions: new Float32Array(0),
      colors: new Uint8Array(0),
      data: null,
    }));
  }

  get lod(): boolean {
    return this.perCell < 2 * this.data.n;
  }

  /** Heads (layer * heads + head) this view can draw: those with the layout. */
  get expected(): number[] {
    return [...this.data.available(this.key)].sort((a, b) => a - b);
  }

  get loaded(): number {
    return this.layouts.size;
  }

  /** Fetch every head's layout (and norms when the colouring needs them); `onHead` after each. */
  async load(settings: DrawSettings, onHead: () => void, signal: AbortSignal): Promise<void> {
    const wantNorms = settings.color === "norm";
    const heads = this.expected.filter((i) => !this.layouts.has(i) || (wantNorms && !this.norms.has(i)));
    await Promise.all(
      heads.map(async (index) => {
        const layer = Math.floor(index / this.data.heads);
        const head = index % this.data.heads;
        const [layout, norms] = await Promise.all([
          this.data.layout(layer, head, this.key, this.perCell),
          wantNorms ? this.data.norms(layer, head, this.perCell) : Promise.resolve(null),
        ]);
        if (signal.aborted) return;
        this.layouts.set(index, layout);
        if (norms) this.norms.set(index, norms);
        this.rows[layer].version++;
        this.version++;
        onHead();
      }),
    );
  }

  layers(settings: DrawSettings): Layer[] {
    const colorKey = `${settings.color}|${settings.hits ? "h" : ""}|${this.version}`;
    if (colorKey !== this.colorKey) {
      this.colorKey = colorKey;
      this.cellColors = settings.color === "norm" ? null : colorRows(settings.color, this.data, this.perCell, { hits: settings.hits });
      for (const row of this.rows) row.built = -1;
    }
    const out: Layer[] = [];
    this.rows.forEach((row, layer) => {
      this.buildRow(layer, row, settings);
      if (!row.data || row.data.length === 0) return;
      out.push(
        new PointsLayer({
          id: `matrix-points-${layer}`,
          data: row.data,
          radius: 0.32,
          minPixels: 1,
          maxPixels: 5,
        }),
      );
    });
    const hits = this.hitsLayer(settings);
    if (hits) out.push(hits);
    return out;
  }

  private buildRow(layer: number, row: RowState, settings: DrawSettings): void {
    if (row.built === row.version) return;
    row.built = row.version;
    const heads: number[] = [];
    let total = 0;
    for (let h = 0; h < this.data.heads; h++) {
      const layout = this.layouts.get(layer * this.data.heads + h);
      if (layout) {
        heads.push(h);
        total += layout.rows;
      }
    }
    const positions = new Float32Array(total * 2);
    const colors = new Uint8Array(total * 4);
    let offset = 0;
    for (const h of heads) {
      const index = layer * this.data.heads + h;
      const layout = this.layouts.get(index)!;
      placeInCell(layout, layer, h, positions, offset * 2);
      const cellColors =
        this.cellColors ??
        colorRows(settings.color, this.data, layout.rows, { norms: this.norms.get(index) ?? null, hits: settings.hits });
      colors.set(cellColors.subarray(0, layout.rows * 4), offset * 4);
      offset += layout.rows;
    }
    row.heads = heads;
    row.positions = positions;
    row.colors = colors;
    row.data = {
      length: total,
      attributes: { getPosition: { value: positions, size: 2 }, getColor: { value: colors, size: 4 } },
    };
  }

  private hitsLayer(settings: DrawSettings): Layer | null {
    const { hits } = settings;
    if (!hits) return null;
    const stamp = this.version * 2 + 1;
    if (this.hitsVersion !== stamp || !this.hitsData) {
      this.hitsVersion = stamp;
      const theme = THEMES[settings.theme];
      const positions: number[] = [];
      const colors: number[] = [];
      const n = this.data.n;
      this.rows.forEach((row) => {
        let offset = 0;
        for (const h of row.heads) {
          const layout = this.layouts.get(this.rows.indexOf(row) * this.data.heads + h)!;
          for (let i = 0; i < layout.rows; i++) {
            const r = this.data.order[i];
            const t = r >= n ? r - n : r;
            if (hits[t]) {
              positions.push(row.positions[(offset + i) * 2], row.positions[(offset + i) * 2 + 1]);
              colors.push(...(r >= n ? theme.keyHit : theme.queryHit));
            }
          }
          offset += layout.rows;
        }
      });
      this.hitsData = {
        length: positions.length / 2,
        attributes: {
          getPosition: { value: new Float32Array(positions), size: 2 },
          getColor: { value: new Uint8Array(colors), size: 4 },
        },
      };
    }
    return new PointsLayer({
      id: "matrix-hits",
      data: this.hitsData,
      radius: 0.9,
      minPixels: 3,
      maxPixels: 8,
    });
  }
}
