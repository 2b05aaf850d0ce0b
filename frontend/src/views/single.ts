// Single View: one head at full resolution, in 2D (the head's own Matrix cell, so zooming in
// from the matrix is one continuous camera move) or 3D (an orbit view around the origin).

import type { Layer } from "@deck.gl/core";
import type { RunData } from "../data/run-data";
import { parseLayout } from "../data/layout";
import type { HeadDetails, HeadLayout } from "../data/types";
import { colorRows } from "../render/colors";
import { placeInCell, placeInCube } from "../render/geometry";
import { PointsLayer } from "../render/points-layer";
import { placeLabels, type LabelCandidate } from "../render/labels";
import type { LabelBox } from "../render/overlay";
import { THEMES, tokenOf, type DrawSettings } from "./common";
import { drawnIndex } from "./selection-layers";

const MAX_LABELS = 350;

export class SingleView {
  layout: HeadLayout | null = null;
  norms: Float32Array | null = null;
  /** per level-of-detail row: keys holding 90% of the query's attention (NaN for key rows) */
  keys: Float32Array | null = null;
  details: HeadDetails | null = null;
  positions: Float32Array | null = null;
  private labelled: LabelCandidate[] = [];
  /** the selected sequence's tokens when the labels were placed */
  private selectedTokens: { tokenStart: number; n: number } | null = null;
  private colorKey = "";
  private colors: Uint8Array | null = null;
  private radii: Float32Array | null = null;
  /** index of the point under the pointer */
  hovered: number | null = null;
  /** prefix of the deck layer ids (two Single Views side by side need distinct ones) */
  id = "single";

  constructor(
    readonly data: RunData,
    readonly layer: number,
    readonly head: number,
    readonly key: string,
  ) {}

  get dim(): number {
    return parseLayout(this.key)?.dim ?? 2;
  }

  async load(settings: DrawSettings, signal: AbortSignal): Promise<void> {
    const needNorms = settings.color === "norm" || settings.sizeByNorm;
    const [layout, norms, details] = await Promise.all([
      this.layout ?? this.data.layout(this.layer, this.head, this.key),
      needNorms ? (this.norms ?? this.data.norms(this.layer, this.head)) : Promise.resolve(this.norms),
      this.details ?? this.data.head(this.layer, this.head),
    ]);
    if (settings.color === "keys_needed" && !this.keys) this.keys = await this.keysPerRow();
    if (signal.aborted) return;
    this.layout = layout;
    this.norms = norms;
    this.details = details;
    this.positions = this.dim === 3 ? placeInCube(layout) : placeInCell(layout, this.layer, this.head);
  }

  private async keysPerRow(): Promise<Float32Array> {
    const perToken = await this.data.source.keysNeeded(this.data.id, this.layer, this.head);
    const order = this.data.order;
    const n = this.data.n;
    return Float32Array.from(order, (row) => (row < n ? perToken[row] : Number.NaN));
  }

  /** The per-row values colour mode `color` reads: q/k norms, or each query's keys for 90%. */
  rowValues(color: string): Float32Array | null {
    return color === "keys_needed" ? this.keys : this.norms;
  }

  /** Token row (0..2N-1) of drawn point `index`. */
  rowOf(index: number): number {
    return this.data.order[index];
  }

  /**
   * Recompute which points carry a label, for the current camera (`project`: world -> screen).
   * With a sequence selected (`selected`: its first token and length), its tokens are labelled
   * first, "position:token" as in the original, whatever the labels setting; other labels fade.
   */
  updateLabels(
    settings: DrawSettings,
    project: (p: number[]) => number[] | null,
    width: number,
    height: number,
    selected: { tokenStart: number; n: number } | null = null,
  ): void {
    this.selectedTokens = selected;
    if (!this.layout || !this.positions || (!settings.labels && !settings.hits && !selected)) {
      this.labelled = [];
      return;
    }
    const { tokens } = this.data;
    const data = this.data;
    const hits = settings.hits;
    const rows = this.layout.rows;
    const others = settings.labels || hits !== null;
    const image = data.details.kind === "image";
    const inSelection = (token: number) => selected !== null && token >= selected.tokenStart && token < selected.tokenStart + selected.n;
    const candidate = (i: number, text: string): LabelCandidate | null => {
      const screen = project(this.worldOf(i));
      return screen ? { index: i, x: screen[0], y: screen[1], text } : null;
    };
    const inverse = selected ? drawnIndex(data) : null;
    function* candidates(): Generator<LabelCandidate> {
      if (selected && inverse) {
        for (let p = 0; p < selected.n; p++) {
          const token = selected.tokenStart + p;
          const text = tokens.values[tokens.token[token]];
          for (const row of [token, data.n + token]) {
            const i = inverse[row];
            const c = i >= 0 && i < rows ? candidate(i, image ? text : `${p}:${text}`) : null;
            if (c) yield c;
          }
        }
      }
      if (!others) return;
      for (let i = 0; i < rows; i++) {
        const { token } = tokenOf(data, data.order[i]);
        if ((hits && !hits[token]) || inSelection(token)) continue;
        const c = candidate(i, tokens.values[tokens.token[token]]);
        if (c) yield c;
      }
    }
    this.labelled = placeLabels(candidates(), { width, height, fontSize: 12, max: MAX_LABELS });
  }

  layers(settings: DrawSettings): Layer[] {
    if (!this.layout || !this.positions) return [];
    const rows = this.layout.rows;
    const values = this.rowValues(settings.color);
    const colorKey = `${settings.color}|${settings.hits ? "h" : ""}|${values ? 1 : 0}`;
    if (colorKey !== this.colorKey || !this.colors) {
      this.colorKey = colorKey;
      this.colors = colorRows(settings.color, this.data, rows, { norms: values, hits: settings.hits });
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
      getColor: { value: this.colors, size: 4 },
    };
    const sized = settings.sizeByNorm && this.radii !== null;
    if (sized) attributes.getSize = { value: this.radii!, size: 1 };
    const out: Layer[] = [
      new PointsLayer({
        id: `${this.id}-points-${sized ? "sized" : "flat"}`,
        data: { length: rows, attributes },
        dim: size,
        radius: 0.3,
        sizedPoints: sized,
        minPixels: 2,
        maxPixels: 14,
      }),
    ];
    if (settings.hits) out.push(this.hitsLayer(settings));
    if (this.hovered !== null) {
      out.push(
        new PointsLayer({
          id: `${this.id}-hovered`,
          data: {
            length: 1,
            attributes: {
              getPosition: { value: new Float32Array(this.worldOf(this.hovered)), size },
              getColor: { value: new Uint8Array([255, 195, 0, 255]), size: 4 },
            },
          },
          dim: size,
          radius: 1,
          minPixels: 9,
          maxPixels: 18,
        }),
      );
    }
    return out;
  }

  /** The labels kept by the last `updateLabels`, in screen pixels. */
  labelBoxes(): LabelBox[] {
    const selected = this.selectedTokens;
    return this.labelled.map((c) => {
      const { token, isKey } = tokenOf(this.data, this.data.order[c.index]);
      const inside = selected !== null && token >= selected.tokenStart && token < selected.tokenStart + selected.n;
      return {
        x: c.x,
        y: c.y,
        text: c.text,
        kind: isKey ? "key" : "query",
        emphasis: selected === null ? undefined : inside ? "selected" : "faded",
      };
    });
  }

  worldOf(index: number): number[] {
    const p = this.positions!;
    return this.dim === 3 ? [p[index * 3], p[index * 3 + 1], p[index * 3 + 2]] : [p[index * 2], p[index * 2 + 1]];
  }

  private hitsLayer(settings: DrawSettings): Layer {
    const theme = THEMES[settings.theme];
    const hits = settings.hits!;
    const positions: number[] = [];
    const colors: number[] = [];
    for (let i = 0; i < this.layout!.rows; i++) {
      const { token, isKey } = tokenOf(this.data, this.data.order[i]);
      if (hits[token]) {
        positions.push(...this.worldOf(i));
        colors.push(...(isKey ? theme.keyHit : theme.queryHit));
      }
    }
    return new PointsLayer({
      id: `${this.id}-hits`,
      data: {
        length: colors.length / 4,
        attributes: {
          getPosition: { value: new Float32Array(positions), size: this.dim },
          getColor: { value: new Uint8Array(colors), size: 4 },
        },
      },
      dim: this.dim,
      radius: 0.8,
      minPixels: 6,
      maxPixels: 16,
    });
  }

  /** The drawn point nearest a screen position, within `radius` pixels (null if none). */
  pick(x: number, y: number, project: (p: number[]) => number[] | null, radius = 8): number | null {
    if (!this.layout || !this.positions) return null;
    let best: number | null = null;
    let bestDistance = radius * radius;
    for (let i = 0; i < this.layout.rows; i++) {
      const screen = project(this.worldOf(i));
      if (!screen) continue;
      const dx = screen[0] - x;
      const dy = screen[1] - y;
      const d = dx * dx + dy * dy;
      if (d <= bestDistance) {
        bestDistance = d;
        best = i;
      }
    }
    return best;
  }
}
