// The controller: owns the canvas, the run's data and the current view; turns state changes into
// loads, camera moves and layers, and announces each finished picture (the render event).

import type { PickingInfo } from "@deck.gl/core";
import { tick } from "svelte";
import { RunData } from "../data/run-data";
import { searchTokens } from "../data/search";
import { layoutKey } from "../data/layout";
import type { DataSource } from "../data/types";
import { Canvas, type Camera2D, type Camera3D, type CameraChange } from "../render/canvas";
import { legend } from "../render/colors";
import { CELL, cellAt, cellOrigin, cellShown, chooseGrid, nearestCell, setGrid, type Cell } from "../render/geometry";
import { Overlay } from "../render/overlay";
import { tokenOf, type DrawSettings } from "../views/common";
import { DEFAULT_POINT_BUDGET } from "../views/lod";
import { MatrixView, SOFTWARE_POINT_BUDGET, softwareRenderer } from "../views/matrix";
import { SingleView } from "../views/single";
import { CompareView } from "../views/compare";
import { Scrub } from "../views/scrub";
import { selectionLayers } from "../views/selection-layers";
import { MatrixPatches, atlasFor, loadAtlas, patchLayers } from "../views/patches";
import { loadSelection, selection } from "./selection.svelte";
import { app } from "./state.svelte";
import { cellTooltip, pointTooltip } from "./tooltips";
import { chooseLayout, settingsForRun } from "./choices";
import { arrangeMatrix } from "../atlas/matrix";
import { metricLines } from "../atlas/metrics";
import { isProbe, loadProbeSelection } from "../atlas/probe";
import { atlas, loadHeadMap } from "../atlas/state.svelte";
import { formatUrlState, type UrlState } from "./url";
import { MATRIX_MARGIN, matrixCamera, singleCamera } from "./cameras";
import { driftLines, driftTint, headView, syncCompare, syncOtherSelection } from "./compare-mode";

const TRANSITION_MS = 650;
const ENTER_FRACTION = 0.78;
const LEAVE_FRACTION = 0.4;
const POLL_MS = 5_000;

export interface RenderEvent {
  view: string;
  generation: number;
}

export class Controller {
  canvas: Canvas | null = null;
  private overlay: Overlay | null = null;
  private budget: number | undefined;
  data: RunData | null = null;
  private matrix: MatrixView | null = null;
  /** image runs: the Matrix View's points as patch thumbnails, once cells are big enough */
  private matrixPatches: MatrixPatches | null = null;
  private single: SingleView | null = null;
  private hovered: Cell | null = null;
  private pointer: [number, number] | null = null;
  private generation = 0;
  private abort = new AbortController();
  private frame = 0;
  private hits: Uint8Array | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  private resizeObserver: ResizeObserver | null = null;
  private readonly listeners: ((event: RenderEvent) => void)[] = [];
  /** layer, head and step scrubbing: frames laid over each other, drawn in the cell it started in */
  readonly scrub: Scrub;

  constructor(
    readonly source: DataSource,
    private readonly options: { budget?: number; onUrl?: (query: string, push: boolean) => void } = {},
  ) {
    this.scrub = new Scrub(source);
  }

  attach(element: HTMLDivElement, under: HTMLElement, over: HTMLElement): void {
    this.overlay = new Overlay(under, over);
    this.canvas = new Canvas(element, {
      onHover: (info) => this.onHover(info),
      onClick: (info) => this.onClick(info),
      onCamera: (change) => this.onCamera(change),
    });
    this.lastSize = this.canvas.size;
    this.resizeObserver = new ResizeObserver(() => this.onResize());
    this.resizeObserver.observe(element);
  }

  /**
   * Stop everything that could still touch the canvas (the resize observer, polling, timers,
   * loads under way) and release the WebGL context: a host removing the App calls this (a notebook
   * re-running the widget's cell), or a late callback would reach a finalized deck.
   */
  destroy(): void {
    this.resizeObserver?.disconnect();
    this.resizeObserver = null;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    for (const timer of [this.refineTimer, this.progressTimer]) clearTimeout(timer);
    cancelAnimationFrame(this.frame);
    cancelAnimationFrame(this.labelFrame);
    this.abort.abort();
    this.listeners.length = 0;
    const canvas = this.canvas;
    this.canvas = null;
    this.overlay = null;
    canvas?.deck.finalize();
  }

  /** whether the camera is where the controller fitted it (no pan or zoom by the user since) */
  private fitted = true;
  private lastSize = { width: 0, height: 0 };

  /**
   * The canvas changed size (the selection panel opened beside or below it, or the window): refit
   * a fitted camera, else keep the same part of the world in view.
   */
  private onResize(): void {
    const canvas = this.canvas;
    const before = this.lastSize;
    if (!canvas) return;
    this.lastSize = canvas.size;
    if (!this.data || (before.width === this.lastSize.width && before.height === this.lastSize.height)) return;
    const idle = app.rendered;
    const generation = idle ? this.beginRender() : this.generation;
    if (this.fitted) {
      canvas.moveTo(app.view === "matrix" ? this.fit(matrixCamera(this.canvas!.size)) : this.fit(singleCamera(this.canvas!.size, this.scrub)));
    } else {
      const ratio = Math.min(this.lastSize.width, this.lastSize.height) / Math.max(1, Math.min(before.width, before.height));
      const camera = canvas.currentCamera;
      canvas.moveTo({ ...camera, zoom: camera.zoom + Math.log2(ratio) });
    }
    this.updateLabels();
    this.redraw();
    // a render already under way announces itself; otherwise this is a new picture
    if (idle) void this.finishRender(generation);
  }

  onRendered(listener: (event: RenderEvent) => void): void {
    this.listeners.push(listener);
  }

  get settings(): DrawSettings {
    return {
      method: app.method,
      dim: app.dim,
      color: app.color,
      hits: this.hits,
      theme: app.theme,
      labels: app.labels,
      sizeByNorm: app.sizeByNorm,
    };
  }

  /** the URL's fields at start (the rest are defaults the app may choose for the run) */
  private given: ReadonlySet<keyof UrlState> = new Set();

  async start(initial: UrlState, given: ReadonlySet<keyof UrlState> = new Set()): Promise<void> {
    Object.assign(app, initial);
    this.given = given;
    try {
      app.runs = await this.source.listRuns();
      if (!app.runs.length) throw new Error("this server shows no runs");
      if (!app.runs.some((r) => r.id === app.run)) app.run = app.runs[0].id;
      await this.openRun();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Apply a change of state from the controls (or the URL) and redraw what it affects. */
  async set(change: Partial<UrlState>, { push = false, keepCamera = false } = {}): Promise<void> {
    const before = { ...this.urlState() };
    Object.assign(app, change);
    if (change.run !== undefined && change.run !== before.run) {
      if (app.scrub !== "steps") {
        // another run's rows are other tokens (a training series' steps share them: scrubbing keeps it)
        selection.current = null;
        selection.version++;
      }
      try {
        await this.openRun(this.data?.details.kind ?? null);
      } catch (error) {
        this.fail(error);
      }
      this.syncUrl(push);
      return;
    }
    if (change.method !== undefined) app.waitingFor = null;
    if (change.search !== undefined || change.match !== undefined) this.runSearch();
    const viewChanged =
      app.view !== before.view || app.layer !== before.layer || app.head !== before.head;
    const layoutChanged = app.method !== before.method || app.dim !== before.dim;
    const compareChanged = app.compare !== before.compare || app.scrub !== before.scrub;
    if (compareChanged || layoutChanged || app.view !== before.view) {
      this.scrub.reset();
      if (compareChanged) this.single = null; // drawn again in its own cell, alone or beside B
    }
    if (compareChanged) await syncCompare(this.source);
    // scrubbing: the new head's points move from where the last one's are; the camera stays
    const scrubbing = app.scrub !== "" && !compareChanged && app.view === "single" && before.view === "single";
    const atlasChanged = (["metric", "sort", "top", "mapMethod", "mapColor"] as const).some((k) => app[k] !== before[k]);
    const mapping = app.view === "headmap" || before.view === "headmap";
    this.syncUrl(push || viewChanged);
    if (viewChanged || layoutChanged || compareChanged || (atlasChanged && app.view !== "single")) {
      await this.show({ animate: viewChanged && !scrubbing && !mapping, keepCamera: keepCamera || scrubbing });
    } else if (change.color !== undefined || change.sizeByNorm !== undefined) {
      await this.show({ animate: false });
    } else if (app.view === "matrix" && (change.search !== undefined || change.match !== undefined)) {
      await this.show({ animate: false, keepCamera: true }); // fetches every head's hit rows
    } else {
      this.beginRender();
      this.updateLegend();
      this.updateLabels();
      this.redraw();
      await this.finishRender(this.generation);
    }
  }

  urlState(): UrlState {
    const { run, view, layer, head, method, dim, color, search, match, theme, labels, sizeByNorm, compare, scrub, patches } = app;
    const { metric, sort, top, mapMethod, mapColor } = app;
    return { run, view, layer, head, method, dim, color, search, match, theme, labels, sizeByNorm, compare, scrub, patches, metric, sort, top, mapMethod, mapColor };
  }

  openHead(layer: number, head: number): Promise<void> {
    return this.set({ view: "single", layer, head }, { push: true });
  }

  resetCamera(): void {
    if (!this.canvas || !this.data) return;
    this.canvas.moveTo(app.view === "matrix" ? this.fit(matrixCamera(this.canvas!.size)) : this.fit(singleCamera(this.canvas!.size, this.scrub)), TRANSITION_MS);
    if (app.view === "single" && this.single) this.scheduleLabels();
  }

  async refresh(): Promise<void> {
    if (!this.data) return;
    const data = this.data;
    try {
      const refined = await data.refreshLayouts();
      if (!refined) return;
      data.forget("head|");
      // a head whose full layout replaced its coarse one: fetch it again (its sample rows stay in place)
      for (const [key, heads] of refined) {
        for (const index of heads) data.forget(`layout|${key}|${Math.floor(index / data.heads)}|${index % data.heads}|`);
        if (this.matrix?.key === key) this.matrix.invalidate(heads);
        if (this.single?.key === key && heads.includes(this.single.layer * data.heads + this.single.head)) this.single = null;
      }
      app.details = data.details;
      await this.show({ animate: false, keepCamera: true });
    } catch (error) {
      this.fail(error);
    }
  }

  /** Open `app.run`; `previous`: the kind of the run shown before (null: the first run opened). */
  private async openRun(previous: string | null = null): Promise<void> {
    this.beginRender();
    this.matrix = null;
    this.matrixPatches = null;
    this.single = null;
    this.hovered = null;
    app.tooltip = null;
    app.error = "";
    app.loading = { active: true, done: 0, total: 0, label: "loading tokens" };
    this.data = await RunData.load(this.source, app.run);
    performance.mark("attentionviz:run-loaded");
    const details = this.data.details;
    app.details = details;
    app.layer = Math.min(app.layer, this.data.layers - 1);
    app.head = Math.min(app.head, this.data.heads - 1);
    Object.assign(app, settingsForRun(details.kind, previous, app, this.given));
    const { width, height } = this.canvas?.size ?? { width: 1000, height: 700 };
    setGrid(chooseGrid(this.data.layers, this.data.heads, width - MATRIX_MARGIN.left - MATRIX_MARGIN.right, height - MATRIX_MARGIN.top - MATRIX_MARGIN.bottom));
    const choice = chooseLayout(details.layouts, this.data.layers * this.data.heads, { method: app.method, dim: app.dim });
    app.method = choice.method;
    app.dim = choice.dim;
    app.waitingFor = choice.waitingFor;
    this.runSearch();
    this.startPolling();
    await syncCompare(this.source);
    await this.show({ animate: false, keepCamera: this.scrub.active });
  }

  /** While an embedding adds layouts or refines coarse ones, look for them every few seconds. */
  private startPolling(): void {
    if (this.poll) clearInterval(this.poll);
    const data = this.data!;
    if (!data.embedding) return;
    this.poll = setInterval(() => {
      if (!data.embedding && this.poll) clearInterval(this.poll);
      else void this.refresh();
    }, POLL_MS);
  }

  private runSearch(): void {
    this.hits = null;
    app.searchInfo = null;
    if (!this.data || !app.search.trim()) return;
    try {
      const result = searchTokens(this.data.tokens, app.search, app.match);
      this.hits = result.hits;
      app.searchInfo = { tokens: result.tokens, sequences: result.sequences, examples: result.examples, error: "" };
    } catch (error) {
      app.searchInfo = { tokens: 0, sequences: 0, examples: [], error: (error as Error).message };
      this.hits = new Uint8Array(this.data.n);
    }
  }

  private async show({ animate, keepCamera = false }: { animate: boolean; keepCamera?: boolean }): Promise<void> {
    if (!this.data || !this.canvas) return;
    const generation = this.beginRender();
    this.abort.abort();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    app.error = "";
    this.updateLegend();
    try {
      if (app.view === "headmap") await this.showHeadMap(signal);
      else if (app.view === "matrix") await this.showMatrix(animate, keepCamera, signal);
      else await this.showSingle(animate, keepCamera, signal);
    } catch (error) {
      if (!signal.aborted) this.fail(error);
      return;
    }
    if (signal.aborted) return;
    performance.mark(`attentionviz:${app.view}-data`);
    app.loading = { ...app.loading, active: false };
    await this.finishRender(generation);
  }

  private async showMatrix(animate: boolean, keepCamera: boolean, signal: AbortSignal): Promise<void> {
    const data = this.data!;
    const canvas = this.canvas!;
    const key = layoutKey(app.method, 2);
    if (!this.matrix || this.matrix.key !== key || this.matrix.data !== data) {
      this.budget ??= this.options.budget ?? (softwareRenderer() ? SOFTWARE_POINT_BUDGET : DEFAULT_POINT_BUDGET);
      this.matrix = new MatrixView(data, key, this.budget);
      const atlas = this.source.patchAtlasUrl(data.id);
      this.matrixPatches = data.details.image_grid ? new MatrixPatches(data, key, this.matrix.perCell, atlas) : null;
    }
    const matrix = this.matrix;
    const metricTint = await arrangeMatrix(this.source, data, app); // the head atlas: cells by a metric
    if (signal.aborted) return;
    const untranslated = new Set(data.details.untranslated);
    this.overlay?.setMatrix(data.layers, data.heads, (l, h) => !data.has(l, h, key), (l, h) => untranslated.has(l * data.heads + h));
    this.overlay?.setTint(driftTint());
    this.overlay?.colorCells(metricTint);
    app.lod = matrix.lod ? { perCell: matrix.perCell, points: matrix.perCell * data.layers * data.heads, inView: 0 } : null;
    app.headInfo = null;
    if (canvas.is3d) canvas.setMode("2d", this.fit(matrixCamera(this.canvas!.size)));
    else if (!keepCamera) canvas.moveTo(this.fit(matrixCamera(this.canvas!.size)), animate ? TRANSITION_MS : 0);
    if (!keepCamera) matrix.showAll();
    const total = matrix.expected.length;
    app.loading = { active: true, done: matrix.loaded, total, label: `loading ${key} layouts` };
    this.redraw();
    await matrix.load(this.settings, () => {
      app.loading = { active: true, done: matrix.loaded, total, label: `loading ${key} layouts` };
      this.progressiveRedraw();
    }, signal, () => {
      this.redraw();
      void this.canvas?.drawn().then(() => signal.aborted || performance.mark("attentionviz:matrix-preview"));
    });
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    await this.matrixPatches?.load(signal);
    if (!signal.aborted) this.redraw();
  }

  private async showSingle(animate: boolean, keepCamera: boolean, signal: AbortSignal): Promise<void> {
    const data = this.data!;
    const canvas = this.canvas!;
    const key = layoutKey(app.method, app.dim);
    if (!data.has(app.layer, app.head, key)) {
      app.headInfo = await data.head(app.layer, app.head);
      throw new Error(`layer ${app.layer} head ${app.head} has no ${key} layout yet; pick another projection or refresh`);
    }
    await arrangeMatrix(this.source, data, app); // the head's cell, where the Matrix View places it
    const reuse = this.single && this.single.key === key && this.single.layer === app.layer && this.single.head === app.head && this.single.data === data;
    const single = reuse ? this.single! : await headView(this.source, data, key);
    app.loading = { active: true, done: 0, total: 1, label: `loading layer ${app.layer} head ${app.head}` };
    if (app.dim === 2) {
      if (canvas.is3d) canvas.setMode("2d", this.fit(singleCamera(this.canvas!.size, this.scrub)));
      else if (!keepCamera && !(reuse && !animate)) canvas.moveTo(this.fit(singleCamera(this.canvas!.size, this.scrub)), animate ? TRANSITION_MS : 0);
    }
    await single.load(this.settings, signal);
    if (data.details.image_grid) await loadAtlas(this.source.patchAtlasUrl(data.id));
    if (signal.aborted) return;
    const from = app.scrub && !(single instanceof CompareView) ? await this.scrub.place(single, app.runs) : null;
    const sel = selection.current;
    if (sel && (sel.layer !== app.layer || sel.head !== app.head || sel.run !== data.id)) {
      selection.current = isProbe(sel)
        ? await loadProbeSelection(data, app.layer, app.head, sel.sequence)
        : await loadSelection(data, app.layer, app.head, sel.row);
      selection.version++;
    }
    await syncOtherSelection(single);
    this.single = single;
    app.headInfo = single.details;
    if (app.dim === 3 && (!canvas.is3d || !reuse)) canvas.setMode("3d", this.fit(singleCamera(this.canvas!.size, this.scrub)));
    app.loading = { active: true, done: 1, total: 1, label: app.loading.label };
    this.updateLegend();
    this.updateLabels();
    this.redraw();
    if (from) {
      await this.scrub.animate(single, from, () => this.redraw(), signal);
      this.updateLabels();
      this.redraw();
    }
  }

  /** The head map: every head of every run served, one point each (atlas/HeadMap.svelte draws it). */
  private async showHeadMap(signal: AbortSignal): Promise<void> {
    app.loading = { active: true, done: 0, total: 1, label: "placing every head by its fingerprint" };
    app.headInfo = null;
    app.tooltip = null;
    const map = await loadHeadMap(this.source, app.mapMethod);
    if (signal.aborted) return;
    atlas.map = map;
    this.redraw();
    await tick(); // the map is drawn by the DOM: let it update before the render event
  }

  /** A camera the controller fitted (the user has not moved it since). */
  private fit<C extends Camera2D | Camera3D>(camera: C): C {
    this.fitted = true;
    return camera;
  }

  private updateLegend(): void {
    const norms = app.view === "single" ? (this.single?.rowValues(app.color) ?? null) : null;
    app.legend = legend(app.color, this.data, norms);
  }

  private progressTimer: ReturnType<typeof setTimeout> | undefined;
  private lastProgress = 0;

  /**
   * Show heads as they arrive, but leave the page room to receive the rest: redraw at most once
   * every few frame costs (a software renderer takes a second per frame at a million points).
   */
  private progressiveRedraw(): void {
    if (this.progressTimer !== undefined) return;
    const interval = Math.min(2000, Math.max(120, 4 * (this.canvas?.frameCost ?? 16)));
    const wait = Math.max(0, this.lastProgress + interval - performance.now());
    this.progressTimer = setTimeout(() => {
      this.progressTimer = undefined;
      this.lastProgress = performance.now();
      this.redraw();
    }, wait);
  }

  private scheduleRedraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.redraw();
    });
  }

  private labelFrame = 0;

  private scheduleLabels(): void {
    if (this.labelFrame) return;
    this.labelFrame = requestAnimationFrame(() => {
      this.labelFrame = 0;
      this.updateLabels();
      this.redraw();
    });
  }

  private updateLabels(): void {
    if (!this.single || !this.canvas) return;
    const { width, height } = this.canvas.size;
    const sel = selection.current;
    const selected = sel && sel.layer === this.single.layer && sel.head === this.single.head ? sel : null;
    this.single.updateLabels(this.settings, this.projector(), width, height, selected);
  }

  redraw(): void {
    if (!this.canvas) return;
    if (app.view === "headmap") {
      this.canvas.setLayers([]);
      this.overlay?.showMatrix(false);
      this.overlay?.setLabels([]);
      return;
    }
    const settings = this.settings;
    const single = app.view === "single" && this.single?.layout ? this.single : null;
    if (single) {
      if (single instanceof CompareView) single.search(app.search, app.match);
      const sel = selection.current;
      const extra =
        sel && !isProbe(sel) && single.positions && single.layout && sel.layer === single.layer && sel.head === single.head
          ? selectionLayers(this.data!, sel, selection.edits, {
              theme: settings.theme,
              dim: single.dim,
              rows: single.layout.rows,
              positions: single.positions,
              worldOf: (i) => single.worldOf(i),
              pointPixels: this.data?.details.image_grid ? 14 : undefined,
            })
          : [];
      const atlas = this.data?.details.image_grid ? atlasFor(this.source.patchAtlasUrl(this.data.id)) : null;
      const place = {
        color: settings.color,
        norms: single.norms,
        dim: single.dim,
        rows: single.layout?.rows ?? 0,
        positions: single.positions!,
        worldOf: (i: number) => single.worldOf(i),
        style: app.patches,
        hits: settings.hits,
        theme: settings.theme,
      };
      const patches = atlas && single.positions ? patchLayers(this.data!, atlas, place) : [];
      this.canvas.setLayers([...single.layers(settings), ...patches, ...extra]);
    } else if (this.matrix) {
      const layers = this.matrix.layers(settings);
      const zoom = this.canvas.currentCamera.zoom;
      this.canvas.setLayers(this.matrixPatches?.over(layers, zoom, app.color, settings.hits, settings.theme) ?? layers);
    }
    this.updateOverlay();
  }

  private updateOverlay(): void {
    const overlay = this.overlay;
    if (!overlay || !this.canvas || !this.data) return;
    const single = app.view === "single" && this.single?.layout ? this.single : null;
    overlay.showMatrix(!single && !this.canvas.is3d);
    overlay.setLabels(single ? single.labelBoxes() : []);
    overlay.setHovered(single ? null : this.hovered);
    if (!this.canvas.is3d) overlay.update({ ...this.canvas.size, ...this.canvas.currentCamera });
  }

  private beginRender(): number {
    this.generation++;
    app.rendered = false;
    document.body.dataset.rendered = "";
    return this.generation;
  }

  private async finishRender(generation: number): Promise<void> {
    if (!this.canvas) return;
    await this.canvas.drawn();
    if (generation !== this.generation) return;
    app.rendered = true;
    performance.mark(`attentionviz:${app.view}-rendered`);
    const event = { view: app.view, generation };
    document.body.dataset.rendered = `${app.view}:${generation}`;
    for (const listener of this.listeners) listener(event);
  }

  private fail(error: unknown): void {
    app.error = error instanceof Error ? error.message : String(error);
    app.loading = { ...app.loading, active: false };
    // An error is a finished state too: tests and users should not wait for a picture forever.
    void this.finishRender(this.generation);
  }

  private syncUrl(push: boolean): void {
    this.options.onUrl?.(formatUrlState(this.urlState()), push);
  }

  private onCamera({ camera, userInteraction }: CameraChange): void {
    if (!this.canvas || !this.data) return;
    if (userInteraction) this.fitted = false;
    const { width, height } = this.canvas.size;
    const cellPixels = CELL * 2 ** camera.zoom;
    const side = Math.min(width, height);
    if (!this.canvas.is3d) this.overlay?.update({ width, height, ...camera });
    if (app.view === "matrix") this.followCamera(camera);
    if (app.view === "matrix") {
      if (this.matrixPatches?.changedAt(camera.zoom)) this.scheduleRedraw();
      if (userInteraction && cellPixels >= ENTER_FRACTION * side) {
        app.tooltip = null; // it named the cell under the pointer, which now fills the view
        const world = this.pointer ? this.canvas.unproject(this.pointer[0], this.pointer[1]) : camera.target;
        const cell = nearestCell(world?.[0] ?? camera.target[0], world?.[1] ?? camera.target[1], this.data.layers, this.data.heads);
        void this.openHead(cell.layer, cell.head);
      }
    } else {
      this.scheduleLabels();
      if (userInteraction && !this.canvas.is3d && cellPixels < LEAVE_FRACTION * side) {
        app.tooltip = null;
        void this.set({ view: "matrix" }, { push: true, keepCamera: true });
      }
    }
  }

  private refineTimer: ReturnType<typeof setTimeout> | undefined;

  /** Matrix View: draw the grid's rows on screen only, and give the cells in view more points. */
  private followCamera(camera: Camera2D | Camera3D): void {
    const matrix = this.matrix;
    if (!matrix || !this.canvas) return;
    const { width, height } = this.canvas.size;
    const s = 2 ** camera.zoom;
    const [x, y] = camera.target;
    const view: [number, number, number, number] = [x - width / 2 / s, y - height / 2 / s, x + width / 2 / s, y + height / 2 / s];
    clearTimeout(this.refineTimer);
    this.refineTimer = setTimeout(() => {
      if (matrix !== this.matrix || app.view !== "matrix") return;
      const generation = this.beginRender(); // a render event once the cells in view have their points
      const more = matrix.refine(view);
      if (app.lod) app.lod = { ...app.lod, inView: matrix.inView };
      this.redraw();
      more.then((arrived) => {
        if (arrived && matrix === this.matrix && app.view === "matrix") this.redraw();
        return this.finishRender(generation);
      }, (error) => this.fail(error));
    }, 150);
  }

  private onHover(info: PickingInfo): void {
    this.pointer = [info.x, info.y];
    if (!this.data || app.view === "headmap") return;
    if (app.view === "matrix") {
      const world = info.coordinate;
      const cell = world ? cellAt(world[0], world[1], this.data.layers, this.data.heads) : null;
      if (cell?.layer !== this.hovered?.layer || cell?.head !== this.hovered?.head) {
        this.hovered = cell;
        this.scheduleRedraw();
      }
      const lines = cell ? [...driftLines(cell), ...(atlas.metrics ? metricLines(atlas.metrics, cell.layer, cell.head, app.metric) : [])] : [];
      app.tooltip = cell ? cellTooltip(this.data, cell, layoutKey(app.method, 2), info.x, info.y, lines) : null;
      return;
    }
    const single = this.single;
    if (!single?.layout) return;
    const index = single.pick(info.x, info.y, this.projector());
    if (index !== single.hovered) {
      single.hovered = index;
      atlas.hoverToken = index === null ? null : tokenOf(this.data, single.rowOf(index)).token;
      this.scheduleRedraw();
    }
    app.tooltip = index === null ? null : pointTooltip(this.data, single, app.color, single.rowOf(index), info.x, info.y);
  }

  /** world -> screen pixels for the current camera (a closed form in 2D, deck's viewport in 3D). */
  private projector(): (p: number[]) => number[] | null {
    const canvas = this.canvas!;
    if (canvas.is3d) return (p) => canvas.project(p);
    const { width, height } = canvas.size;
    const { target, zoom } = canvas.currentCamera;
    const s = 2 ** zoom;
    return (p) => [(p[0] - target[0]) * s + width / 2, (p[1] - target[1]) * s + height / 2];
  }

  /** Select the sequence of layout row `row` (its attention in the Sentence View), or clear with null. */
  async select(row: number | null): Promise<void> {
    if (!this.data) return;
    const generation = this.beginRender();
    try {
      selection.current = row === null ? null : await loadSelection(this.data, app.layer, app.head, row);
      if (this.single) await syncOtherSelection(this.single);
      selection.version++;
    } catch (error) {
      this.fail(error);
      return;
    }
    app.tooltip = null;
    this.updateLabels();
    this.redraw();
    await this.finishRender(generation);
  }

  /** Show the open head's attention on the run's probe sequence `seq` in the Sentence View. */
  async selectProbe(seq = 0): Promise<void> {
    if (!this.data) return;
    const generation = this.beginRender();
    try {
      selection.current = await loadProbeSelection(this.data, app.layer, app.head, seq);
      selection.version++;
    } catch (error) {
      this.fail(error);
      return;
    }
    this.redraw();
    await this.finishRender(generation);
  }

  /** Light up token `token`'s query and key in the Single View (from the value layout), or none. */
  hoverToken(token: number | null): void {
    const single = this.single;
    if (!single?.layout || !this.data || app.view !== "single") return;
    atlas.hoverToken = token;
    const index = token === null ? -1 : this.data.rank[token];
    single.hovered = index >= 0 && index < single.layout.rows ? index : null;
    this.scheduleRedraw();
  }

  /** Page coordinates of layout row `row` in the Single View (run B's, with `other`), or null (tests click there). */
  screenOf(row: number, other = false): [number, number] | null {
    const single = other ? (this.single instanceof CompareView ? this.single.other : null) : this.single;
    if (!single?.layout || !this.canvas) return null;
    const index = single.data.order.indexOf(row);
    if (index < 0 || index >= single.layout.rows) return null;
    const screen = this.projector()(single.worldOf(index));
    if (!screen) return null;
    const rect = this.canvas.parent.getBoundingClientRect();
    return [rect.left + screen[0], rect.top + screen[1]];
  }

  /** Compare mode: the run and head shown beside the open head (run B's), or null (tests check which). */
  besideHead(): { run: string; layer: number; head: number } | null {
    const single = this.single;
    return single instanceof CompareView ? { run: single.other.data.id, layer: single.b.layer, head: single.b.head } : null;
  }

  /** Redraw after an edit in the Sentence View (the scatterplot's lines follow it). */
  async redrawSelection(): Promise<void> {
    const generation = this.beginRender();
    this.redraw();
    await this.finishRender(generation);
  }

  /**
   * A click on a point selects its sequence; on a Matrix cell, opens the head. A click on empty
   * canvas clears what is shown over the points: the selection, and the search.
   */
  private onClick(info: PickingInfo): void {
    app.tooltip = null; // the panel that opens, or the head, moves what the tooltip pointed at
    if (!this.data) return;
    if (app.view === "single" && this.single?.layout) {
      const index = this.single.pick(info.x, info.y, this.projector());
      if (index !== null) void this.select(this.single.rowOf(index));
      else void this.clearAll();
      return;
    }
    if (app.view !== "matrix" || !info.coordinate) return;
    const cell = cellAt(info.coordinate[0], info.coordinate[1], this.data.layers, this.data.heads);
    if (cell) void this.openHead(cell.layer, cell.head);
    else if (app.search) void this.set({ search: "" });
  }

  private async clearAll(): Promise<void> {
    if (app.search) {
      selection.current = null;
      selection.version++;
      await this.set({ search: "" });
    } else if (selection.current) await this.select(null);
  }

  /** World positions [x0, y0, x1, y1, ...] of the points Matrix cell (layer, head) draws, and the cell size. */
  cellPoints(layer: number, head: number): { positions: number[]; cell: number } {
    return { positions: Array.from(this.matrix?.cellPositions(layer, head) ?? []), cell: CELL };
  }

  /** Screen rectangles (CSS pixels, page coordinates) of every Matrix cell; for tests and exports. */
  cells(): { layer: number; head: number; x: number; y: number; width: number; height: number }[] {
    if (!this.canvas || !this.data || app.view !== "matrix") return [];
    const rect = this.canvas.parent.getBoundingClientRect();
    const out = [];
    for (let layer = 0; layer < this.data.layers; layer++) {
      for (let head = 0; head < this.data.heads; head++) {
        if (!cellShown(layer, head)) continue;
        const [x, y] = cellOrigin(layer, head);
        const a = this.canvas.project([x, y]);
        const b = this.canvas.project([x + CELL, y + CELL]);
        if (!a || !b) continue;
        out.push({ layer, head, x: rect.left + a[0], y: rect.top + a[1], width: b[0] - a[0], height: b[1] - a[1] });
      }
    }
    return out;
  }
}
