// Single View: one head at full resolution, in 2D (the head's own Matrix cell, so zooming in
// from the matrix is one continuous camera move) or 3D (an orbit view around the origin).

import { ScatterplotLayer, TextLayer } from "@deck.gl/layers";
import type { Layer } from "@deck.gl/core";
import type { RunData } from "../data/run-data";
import type { HeadDetails, Layout } from "../data/types";
import { colorRows } from "../render/colors";
import { placeInCell, placeInCube } from "../render/geometry";
import { placeLabels, type LabelCandidate } from "../render/labels";
import { THEMES, tokenOf, type DrawSettings } from "./common";

const MAX_LABELS = 350;

export class SingleView {
  layout: Layout | null = null;
  norms: Float32Array | null = null;
  details: HeadDetails | null = null;
  positions: Float32Array | null = null;
  private labelled: LabelCandidate[] = [];
  private colorKey = "";
  private colors: Uint8Array | null = null;
  private radii: Float32Array | null = null;

  constructor(
    readonly data: RunData,
    readonly layer: number,
    readonly head: number,
    readonly key: string,
  ) {}

  get dim(): number {
    return Number(this.key.split(".")[1][0]);
  }

  async load(settings: DrawSettings, signal: AbortSignal): Promise<void> {
    const needNorms = settings.color === "norm" || settings.sizeByNorm;
    const [layout, norms, details] = await Promise.all([
      this.layout ?? this.data.layout(this.layer, this.head, this.key),
      needNorms ? (this.norms ?? this.data.norms(this.layer, this.head)) : Promise.resolve(this.norms),
      this.details ?? this.data.head(this.layer, this.head),
    ]);
    if (signal.aborted) return;
    this.layout = layout;
    this.norms = norms;
    this.details = details;
    this.positions = this.dim === 3 ? placeInCube(layout) : placeInCell(layout, this.layer, this.head);
  }

  /** Token row (0..2N-1) of drawn point `index`. */
  rowOf(index: number): number {
    return this.data.order[index];
  }

  /** Recompute which points carry a label, for the current camera (`project`: world -> screen). */
  updateLabels(settings: DrawSettings, project: (p: number[]) => number[] | null, width: number, height: number): void {
    if (!this.layout || !this.positions || (!settings.labels && !settings.hits)) {
      this.labelled = [];
      return;
    }
    const { tokens } = this.data;
    const dim = this.dim;
    const positions = this.positions;
    const data = this.data;
    const hits = settings.hits;
    const rows = this.layout.rows;
    function* candidates(): Generator<LabelCandidate> {
      for (let i = 0; i < rows; i++) {
        const { token } = tokenOf(data, data.order[i]);
        if (hits && !hits[token]) continue;
        const world = dim === 3 ? [positions[i * 3], positions[i * 3 + 1], positions[i * 3 + 2]] : [positions[i * 2], positions[i * 2 + 1]];
        const screen = project(world);
        if (!screen) continue;
        yield { index: i, x: screen[0], y: screen[1], text: tokens.values[tokens.token[token]] };
      }
    }
    this.labelled = placeLabels(candidates(), { width, height, fontSize: 12, max: MAX_LABELS });
  }

  layers(settings: DrawSettings): Layer[] {
    if (!this.layout || !this.positions) return [];
    const theme = THEMES[settings.theme];
    const rows = this.layout.rows;
    const colorKey = `${settings.color}|${settings.hits ? "h" : ""}|${this.norms ? 1 : 0}`;
    if (colorKey !== this.colorKey || !this.colors) {
      this.colorKey = colorKey;
      this.colors = colorRows(settings.color, this.data, rows, { norms: this.norms, hits: settings.hits });
    }
    if (settings.sizeByNorm && this.norms && !this.radii) {
      let low = Infinity;
      let high = -Infinity;
      for (const v of this.norms) {
        low = Math.min(low, v);
        high = Math.max(high, v);
      }
      const span = high > low ? high - low : 1;
      this.radii = this.norms.map((v) => 0.1 + 0.5 * ((v - low) / span));
    }
    const size = this.dim;
    const attributes: Record<string, { value: Float32Array | Uint8Array; size: number }> = {
      getPosition: { value: this.positions, size },
      getFillColor: { value: this.colors, size: 4 },
    };
    if (settings.sizeByNorm && this.radii) attributes.getRadius = { value: this.radii, size: 1 };
    const out: Layer[] = [
      new ScatterplotLayer({
        id: "single-points",
        data: { length: rows, attributes } as never,
        radiusUnits: this.dim === 3 ? "common" : "common",
        getRadius: 0.3,
        radiusScale: 1,
        radiusMinPixels: 1.2,
        radiusMaxPixels: 12,
        stroked: false,
        pickable: true,
        autoHighlight: true,
        highlightColor: [255, 195, 0, 255],
        billboard: true,
        updateTriggers: { getRadius: settings.sizeByNorm },
      }),
    ];
    if (settings.hits) out.push(this.hitsLayer(settings));
    if (this.labelled.length) {
      out.push(
        new TextLayer({
          id: "single-labels",
          data: this.labelled,
          getText: (d: LabelCandidate) => d.text,
          getPosition: (d: LabelCandidate) => this.worldOf(d.index) as never,
          getColor: (d: LabelCandidate) => (tokenOf(this.data, this.data.order[d.index]).isKey ? theme.keyLabel : theme.queryLabel),
          sizeUnits: "pixels",
          getSize: 12,
          getTextAnchor: "start",
          getAlignmentBaseline: "center",
          getPixelOffset: [4, 0],
          fontFamily: "system-ui, sans-serif",
          characterSet: "auto",
          fontSettings: { sdf: true },
          outlineWidth: 3,
          outlineColor: theme.outline,
          billboard: true,
          updateTriggers: { getColor: settings.theme },
        }),
      );
    }
    return out;
  }

  worldOf(index: number): number[] {
    const p = this.positions!;
    return this.dim === 3 ? [p[index * 3], p[index * 3 + 1], p[index * 3 + 2]] : [p[index * 2], p[index * 2 + 1]];
  }

  private hitsLayer(settings: DrawSettings): Layer {
    const theme = THEMES[settings.theme];
    const hits = settings.hits!;
    const points: { index: number; isKey: boolean }[] = [];
    for (let i = 0; i < this.layout!.rows; i++) {
      const { token, isKey } = tokenOf(this.data, this.data.order[i]);
      if (hits[token]) points.push({ index: i, isKey });
    }
    return new ScatterplotLayer({
      id: "single-hits",
      data: points,
      getPosition: (d: { index: number }) => this.worldOf(d.index) as never,
      getFillColor: (d: { isKey: boolean }) => (d.isKey ? theme.keyHit : theme.queryHit),
      getLineColor: theme.outline,
      stroked: true,
      lineWidthUnits: "pixels",
      getLineWidth: 1,
      radiusUnits: "common",
      getRadius: 0.8,
      radiusMinPixels: 3.5,
      radiusMaxPixels: 14,
      pickable: false,
      updateTriggers: { getFillColor: settings.theme },
    });
  }
}
