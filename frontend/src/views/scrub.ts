// Scrubbing: moving the Single View through the layers for one head index, through the heads of a
// layer, or through the steps of a training series, with every frame laid over the one before
// (the server's Procrustes transforms, chained) and drawn in the cell where scrubbing started, so a
// token keeps its identity and its point moves smoothly from one frame to the next.

import type { DataSource, Alignments, HeadLayout, RunSummary } from "../data/types";
import { stepPath } from "../data/series";
import { placeInCell, placeInCube } from "../render/geometry";
import { alignLayout, compose, ease, identity, invert, lerp, type Similarity } from "./align";
import type { SingleView } from "./single";

export type ScrubMode = "" | "layers" | "heads" | "steps";
export const SCRUB_MODES: ScrubMode[] = ["", "layers", "heads", "steps"];
export const SCRUB_MS = 700;

export interface Frame {
  run: string;
  layer: number;
  head: number;
  key: string;
}

/** One link of a chain: the transform laying frame `to` over frame `from`'s coordinates. */
export type Link = (from: Frame, to: Frame) => Promise<Similarity | null>;

/**
 * The frames between `from` and `to`, one step at a time: through the series' steps first (at
 * `from`'s head), then through the layers (at `from`'s head index), then through the heads.
 */
export function framePath(from: Frame, to: Frame, runs: RunSummary[]): Frame[] | null {
  const path: Frame[] = [from];
  let at = { ...from };
  if (from.run !== to.run) {
    const steps = stepPath(runs, from.run, to.run);
    if (!steps) return null;
    for (const run of steps.slice(1)) path.push((at = { ...at, run }));
  }
  while (at.layer !== to.layer) path.push((at = { ...at, layer: at.layer + Math.sign(to.layer - at.layer) }));
  while (at.head !== to.head) path.push((at = { ...at, head: at.head + Math.sign(to.head - at.head) }));
  return path;
}

/** The transform laying `to` over `from`, composed along `framePath`; null when a link is missing. */
export async function chain(from: Frame, to: Frame, runs: RunSummary[], link: Link, dim: number): Promise<Similarity | null> {
  const path = framePath(from, to, runs);
  if (!path) return null;
  let t = identity(dim);
  for (let i = 1; i < path.length; i++) {
    const step = await link(path[i - 1], path[i]);
    if (!step) return null;
    t = compose(t, step);
  }
  return t;
}

export class Scrub {
  /** the frame scrubbing started from: its cell and bounds place every later frame */
  private anchor: (Frame & { bounds: [number, number][] }) | null = null;
  /** the frame shown now and its transform into the anchor's coordinates */
  private at: (Frame & { t: Similarity }) | null = null;
  /** the positions drawn now (mid-animation too): where the next animation starts */
  private shown: Float32Array | null = null;
  private readonly requests = new Map<string, Promise<Map<string, Alignments["heads"][number]>>>();

  constructor(private readonly source: DataSource) {}

  get active(): boolean {
    return this.anchor !== null;
  }

  reset(): void {
    this.anchor = null;
    this.at = null;
    this.shown = null;
  }

  /** The cell the Single View draws head (layer, head) in: the anchor's while scrubbing. */
  cell(layer: number, head: number): [number, number] {
    return this.anchor ? [this.anchor.layer, this.anchor.head] : [layer, head];
  }

  /**
   * Place a loaded Single View in the anchor's frame (the first one placed becomes the anchor).
   * Returns the positions to animate from, or null when there is nothing to animate (a new anchor,
   * or a frame no chain of transforms reaches: then it becomes the anchor).
   */
  async place(single: SingleView, runs: RunSummary[]): Promise<Float32Array | null> {
    const layout = single.layout;
    if (!layout || !single.positions) return null;
    const frame: Frame = { run: single.data.id, layer: single.layer, head: single.head, key: single.key };
    const link = this.anchor && this.at && this.anchor.key === frame.key ? await chain(this.at, frame, runs, this.link, layout.dim) : null;
    if (!this.anchor || !this.at || !link) {
      this.anchor = { ...frame, bounds: layout.bounds };
      this.at = { ...frame, t: identity(layout.dim) };
      this.shown = single.positions;
      return null;
    }
    const t = compose(this.at.t, link);
    single.positions = placeAligned(layout, t, this.anchor.bounds, [this.anchor.layer, this.anchor.head]);
    const from = this.shown && this.shown.length === single.positions.length ? this.shown : null;
    this.at = { ...frame, t };
    this.shown = single.positions;
    return from;
  }

  /** Move `single`'s points from `from` to their places, calling `draw` every animation frame. */
  async animate(single: SingleView, from: Float32Array, draw: () => void, signal: AbortSignal, duration = SCRUB_MS): Promise<void> {
    const to = single.positions!;
    const start = performance.now();
    for (;;) {
      const f = ease((performance.now() - start) / duration);
      if (signal.aborted) return; // the next frame starts from where this one got to
      const positions = f >= 1 ? to : lerp(from, to, f, new Float32Array(to.length));
      single.positions = positions;
      this.shown = positions;
      draw();
      if (f >= 1) return;
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
  }

  /** The server's transform laying frame `to` over the neighbouring frame `from`. */
  private readonly link: Link = async (from, to) => {
    if (from.run !== to.run) {
      const heads = await this.heads(`compare|${from.run}|${to.run}|${from.key}`, () => this.source.compareAlignments(from.run, to.run, from.key));
      return heads.get(`${to.layer}.${to.head}`)?.other ?? null;
    }
    const heads = await this.heads(`run|${from.run}|${from.key}`, () => this.source.runAlignments(from.run, from.key));
    const below = to.layer > from.layer || to.head > from.head;
    const later = below ? to : from; // the transform is stored on the later head, onto the earlier one
    const entry = heads.get(`${later.layer}.${later.head}`);
    const t = to.layer !== from.layer ? entry?.previous_layer : entry?.previous_head;
    if (!t) return null;
    return below ? t : invert(t);
  };

  private heads(key: string, load: () => Promise<Alignments>): Promise<Map<string, Alignments["heads"][number]>> {
    let request = this.requests.get(key);
    if (!request) {
      request = load().then((answer) => new Map(answer.heads.map((h) => [`${h.layer}.${h.head}`, h])));
      request.catch(() => this.requests.delete(key));
      this.requests.set(key, request);
    }
    return request.catch(() => new Map());
  }
}

/** World positions of `layout` moved by `t` into a layout of `bounds` drawn in `cell` (2D) or the cube (3D). */
export function placeAligned(layout: HeadLayout, t: Similarity, bounds: [number, number][], cell: [number, number]): Float32Array {
  const aligned = alignLayout(layout, t, bounds);
  return layout.dim === 3 ? placeInCube(aligned) : placeInCell(aligned, cell[0], cell[1]);
}
