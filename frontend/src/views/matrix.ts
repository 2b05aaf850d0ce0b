// Matrix View: every head of the run as a small multiple in one deck.gl context. Rows = layers,
// columns = heads. One point layer per model layer (its heads concatenated), so a head arriving
// re-uploads one row only. Above the point budget each cell draws a level-of-detail prefix.

import { PathLayer, ScatterplotLayer, SolidPolygonLayer, TextLayer } from "@deck.gl/layers";
import type { Layer } from "@deck.gl/core";
import type { RunData } from "../data/run-data";
import type { Layout } from "../data/types";
import { colorRows } from "../render/colors";
import { CELL, PITCH, cellOrigin, placeInCell, type Cell } from "../render/geometry";
import { THEMES, type DrawSettings } from "./common";

/** Points drawn in the Matrix View before cells switch to level-of-detail samples. */
export const DEFAULT_POINT_BUDGET = 1_500_000;

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

  layers(settings: DrawSettings, hovered: Cell | null, cellPixels: number): Layer[] {
    const theme = THEMES[settings.theme];
    const colorKey = `${settings.color}|${settings.hits ? "h" : ""}|${this.version}`;
    if (colorKey !== this.colorKey) {
      this.colorKey = colorKey;
      this.cellColors = settings.color === "norm" ? null : colorRows(settings.color, this.data, this.perCell, { hits: settings.hits });
      for (const row of this.rows) row.built = -1;
    }
    const out: Layer[] = [this.cellsLayer(settings)];
    this.rows.forEach((row, layer) => {
      this.buildRow(layer, row, settings);
      if (!row.data || row.data.length === 0) return;
      out.push(
        new ScatterplotLayer({
          id: `matrix-points-${layer}`,
          data: row.data as never,
          radiusUnits: "common",
          getRadius: 0.32,
          radiusMinPixels: 0.75,
          radiusMaxPixels: 4,
          stroked: false,
          antialiasing: false,
          pickable: false,
        }),
      );
    });
    const hits = this.hitsLayer(settings);
    if (hits) out.push(hits);
    out.push(...this.labelLayers(settings, cellPixels >= 70));
    if (hovered) {
      const [x, y] = cellOrigin(hovered.layer, hovered.head);
      out.push(
        new PathLayer({
          id: "matrix-hover",
          data: [{ path: [[x, y], [x + CELL, y], [x + CELL, y + CELL], [x, y + CELL], [x, y]] }],
          getPath: (d: { path: number[][] }) => d.path as never,
          getColor: theme.muted,
          widthUnits: "pixels",
          getWidth: 1.5,
        }),
      );
    }
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
      attributes: { getPosition: { value: positions, size: 2 }, getFillColor: { value: colors, size: 4 } },
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
          getFillColor: { value: new Uint8Array(colors), size: 4 },
        },
      };
    }
    return new ScatterplotLayer({
      id: "matrix-hits",
      data: this.hitsData as never,
      radiusUnits: "common",
      getRadius: 0.9,
      radiusMinPixels: 2.2,
      radiusMaxPixels: 7,
      stroked: false,
      pickable: false,
    });
  }

  private cellsLayer(settings: DrawSettings): Layer {
    const theme = THEMES[settings.theme];
    const available = this.data.available(this.key);
    const cells: { polygon: number[][]; missing: boolean }[] = [];
    for (let l = 0; l < this.data.layers; l++) {
      for (let h = 0; h < this.data.heads; h++) {
        const [x, y] = cellOrigin(l, h);
        cells.push({
          polygon: [[x, y], [x + CELL, y], [x + CELL, y + CELL], [x, y + CELL]],
          missing: !available.has(l * this.data.heads + h),
        });
      }
    }
    return new SolidPolygonLayer({
      id: "matrix-cells",
      data: cells,
      getPolygon: (d: { polygon: number[][] }) => d.polygon as never,
      getFillColor: (d: { missing: boolean }) => (d.missing ? theme.cellMissing : theme.cell),
      updateTriggers: { getFillColor: [settings.theme, this.key, available.size] },
      pickable: false,
    });
  }

  private labelLayers(settings: DrawSettings, cellLabels: boolean): Layer[] {
    const theme = THEMES[settings.theme];
    const labels: { text: string; position: number[] }[] = [];
    for (let l = 0; l < this.data.layers; l++) {
      for (let h = 0; h < this.data.heads; h++) {
        const [x, y] = cellOrigin(l, h);
        labels.push({ text: `L${l} H${h}`, position: [x + 2, y - 2] });
      }
    }
    const headers: { text: string; position: number[]; anchor: string }[] = [];
    for (let l = 0; l < this.data.layers; l++) headers.push({ text: `L${l}`, position: [-8, l * PITCH + CELL / 2], anchor: "end" });
    for (let h = 0; h < this.data.heads; h++) headers.push({ text: `H${h}`, position: [h * PITCH + CELL / 2, -PITCH * 0.18], anchor: "middle" });
    return [
      new TextLayer({
        id: "matrix-cell-labels",
        visible: cellLabels,
        data: labels,
        getText: (d: { text: string }) => d.text,
        getPosition: (d: { position: number[] }) => d.position as never,
        getColor: theme.muted,
        sizeUnits: "common",
        getSize: 11,
        sizeMinPixels: 0,
        sizeMaxPixels: 16,
        getTextAnchor: "start",
        getAlignmentBaseline: "bottom",
        fontFamily: "system-ui, sans-serif",
        characterSet: "LH0123456789 ",
        updateTriggers: { getColor: settings.theme },
      }),
      new TextLayer({
        id: "matrix-headers",
        data: headers,
        getText: (d: { text: string }) => d.text,
        getPosition: (d: { position: number[] }) => d.position as never,
        getColor: theme.text,
        sizeUnits: "pixels",
        getSize: 12,
        getTextAnchor: (d: { anchor: string }) => d.anchor as never,
        getAlignmentBaseline: "center",
        fontFamily: "system-ui, sans-serif",
        fontWeight: 600,
        characterSet: "LH0123456789",
        updateTriggers: { getColor: settings.theme },
      }),
    ];
  }
}
