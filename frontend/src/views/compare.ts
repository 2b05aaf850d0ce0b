// Compare mode's Single View: run A's head in its cell and run B's head beside it, in one canvas and
// one camera (zoom and pan are shared). When the runs share their corpus B's layout is laid over A's
// (the server's Procrustes transform), so a token sits at the same place in both, and hover,
// selection and search are linked row for row.

import type { Layer } from "@deck.gl/core";
import type { RunData } from "../data/run-data";
import { searchTokens, type MatchMode } from "../data/search";
import { CELL, GAP, cellCentre, cellOrigin, placeInCell, placeInCube } from "../render/geometry";
import type { LabelBox } from "../render/overlay";
import { PointsLayer } from "../render/points-layer";
import { comparing } from "../app/compare.svelte";
import { selection } from "../app/selection.svelte";
import { alignLayout, type Similarity } from "./align";
import type { DrawSettings } from "./common";
import { selectionLayers } from "./selection-layers";
import { SingleView } from "./single";

/** How far B's head sits to the right of A's, in world units. */
export const BESIDE_2D = CELL + GAP;
export const BESIDE_3D = CELL * 1.3;

/** Whether two runs hold the same tokens row for row (then one row index means one token in both). */
export function sameTokens(a: RunData, b: RunData): boolean {
  if (a === b) return true;
  if (a.n !== b.n) return false;
  const ta = a.tokens;
  const tb = b.tokens;
  for (let t = 0; t < a.n; t++) {
    if (ta.values[ta.token[t]] !== tb.values[tb.token[t]] || ta.sequence[t] !== tb.sequence[t]) return false;
  }
  return true;
}

/** The centre and width (world units) of what the Single View shows: one cell, or two side by side. */
export function singleExtent(layer: number, head: number, dim: number, comparing: boolean): { centre: [number, number, number]; width: number } {
  if (dim === 3) return comparing ? { centre: [BESIDE_3D / 2, 0, 0], width: CELL + BESIDE_3D } : { centre: [0, 0, 0], width: CELL };
  const [x, y] = cellCentre(layer, head);
  return comparing ? { centre: [x + BESIDE_2D / 2, y, 0], width: CELL + BESIDE_2D } : { centre: [x, y, 0], width: CELL };
}

export interface OtherHead {
  data: RunData;
  layer: number;
  head: number;
  /** B's layout onto A's (same corpus), or null: B is shown in its own coordinates */
  transform: Similarity | null;
}

export class CompareView extends SingleView {
  readonly other: SingleView;
  /** one row index is one token in both runs: hover, selection and search follow it across */
  readonly linked: boolean;
  private otherHits: { key: string; hits: Uint8Array | null } = { key: "", hits: null };
  private captions: LabelBox[] = [];

  constructor(data: RunData, layer: number, head: number, key: string, readonly b: OtherHead) {
    super(data, layer, head, key);
    this.other = new SingleView(b.data, b.layer, b.head, key);
    this.other.id = "compare";
    this.linked = b.transform !== null && sameTokens(data, b.data);
  }

  override async load(settings: DrawSettings, signal: AbortSignal): Promise<void> {
    await Promise.all([super.load(settings, signal), this.other.load(settings, signal)]);
    if (signal.aborted || !this.layout || !this.other.layout) return;
    const b = this.other.layout;
    const placed = this.b.transform ? alignLayout(b, this.b.transform, this.layout.bounds) : b;
    const positions = this.dim === 3 ? placeInCube(placed) : placeInCell(placed, this.layer, this.head);
    const offset = this.dim === 3 ? BESIDE_3D : BESIDE_2D;
    for (let i = 0; i < placed.rows; i++) positions[i * this.dim] += offset;
    this.other.positions = positions;
  }

  /** Rows drawn for A; B's drawn index i is combined index rowsA + i. */
  private get rowsA(): number {
    return this.layout?.rows ?? 0;
  }

  override rowOf(index: number): number {
    return index < this.rowsA ? super.rowOf(index) : this.other.rowOf(index - this.rowsA);
  }

  override worldOf(index: number): number[] {
    return index < this.rowsA ? super.worldOf(index) : this.other.worldOf(index - this.rowsA);
  }

  override pick(x: number, y: number, project: (p: number[]) => number[] | null, radius = 8): number | null {
    const mine = super.pick(x, y, project, radius);
    const theirs = this.other.pick(x, y, project, radius);
    if (theirs === null) return mine;
    if (mine === null) return this.rowsA + theirs;
    const distance = (p: number[] | null) => (p ? (p[0] - x) ** 2 + (p[1] - y) ** 2 : Infinity);
    return distance(project(super.worldOf(mine))) <= distance(project(this.other.worldOf(theirs))) ? mine : this.rowsA + theirs;
  }

  override layers(settings: DrawSettings): Layer[] {
    const hovered = this.hovered;
    const mirror = hovered === null || !this.linked ? null : hovered < this.rowsA ? this.rowsA + hovered : hovered - this.rowsA;
    this.other.hovered = null;
    const out = [...this.other.layers({ ...settings, hits: this.hitsOfOther(settings) }), ...this.otherSelection(settings), ...super.layers(settings)];
    if (mirror !== null && mirror < this.rowsA + (this.other.layout?.rows ?? 0)) {
      out.push(
        new PointsLayer({
          id: "compare-linked",
          data: {
            length: 1,
            attributes: {
              getPosition: { value: new Float32Array(this.worldOf(mirror)), size: this.dim },
              getColor: { value: new Uint8Array([255, 195, 0, 255]), size: 4 },
            },
          },
          dim: this.dim,
          radius: 1,
          minPixels: 9,
          maxPixels: 18,
        }),
      );
    }
    return out;
  }

  /** B's attention lines for the selected sequence (the same edits as A's). */
  private otherSelection(settings: DrawSettings): Layer[] {
    const other = this.other;
    const sel = comparing.selection;
    if (!sel || !other.layout || !other.positions || sel.run !== other.data.id) return [];
    return selectionLayers(other.data, sel, selection.edits, {
      theme: settings.theme,
      dim: this.dim,
      rows: other.layout.rows,
      positions: other.positions,
      worldOf: (i) => other.worldOf(i),
      id: "compare-selection",
    });
  }

  override updateLabels(settings: DrawSettings, project: (p: number[]) => number[] | null, width: number, height: number): void {
    super.updateLabels(settings, project, width, height);
    this.other.updateLabels({ ...settings, hits: this.hitsOfOther(settings) }, project, width, height);
    const [x, y] = cellOrigin(this.layer, this.head);
    const top = (dx: number) => (this.dim === 3 ? project([dx, CELL * 0.62, 0]) : project([x + CELL / 2 + dx, y - 2]));
    const offset = this.dim === 3 ? BESIDE_3D : BESIDE_2D;
    const b = this.b.layer === this.layer && this.b.head === this.head ? "" : ` · L${this.b.layer} H${this.b.head}`;
    this.captions = [
      [top(0), this.data.id],
      [top(offset), `${this.other.data.id}${b}${this.b.transform ? " (aligned)" : ""}`],
    ]
      .filter((c): c is [number[], string] => c[0] !== null)
      .map(([p, text]) => ({ x: p[0] - 4 * text.length, y: Math.max(12, p[1] - 10), text, kind: "caption" as const }));
  }

  override labelBoxes(): LabelBox[] {
    return [...this.captions, ...super.labelBoxes(), ...this.other.labelBoxes()];
  }

  /** B's search hits: A's when the tokens are the same, else the search run over B's own tokens. */
  private hitsOfOther(settings: DrawSettings): Uint8Array | null {
    if (!settings.hits || this.linked) return settings.hits;
    return this.otherHits.hits;
  }

  /** Run the search over B's tokens (when they are not A's). */
  search(text: string, match: MatchMode): void {
    const key = `${match}|${text}`;
    if (this.linked || this.otherHits.key === key) return;
    let hits: Uint8Array | null = null;
    if (text.trim()) {
      try {
        hits = searchTokens(this.other.data.tokens, text, match).hits;
      } catch {
        hits = new Uint8Array(this.other.data.n);
      }
    }
    this.otherHits = { key, hits };
  }
}
