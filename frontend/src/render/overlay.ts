// HTML drawn with the canvas: the Matrix cells' backgrounds (under the canvas), their "L{l} H{h}"
// labels, the row and column headers, the hovered cell, and the Single View's token labels (over
// it). The DOM costs no shader compilation, which is what dominates a software-rendered first frame.

import { CELL, PITCH, cellOrigin, cellShown, currentArrangement, currentGrid, type Cell } from "./geometry";
import "./overlay.css";

export interface LabelBox {
  x: number;
  y: number;
  text: string;
  /** a token's query or key, or a caption (compare mode: which run a panel shows) */
  kind: "query" | "key" | "caption";
  /** with a sequence selected: its tokens' labels stand out, the others fade */
  emphasis?: "selected" | "faded";
}

export interface Projection {
  target: number[];
  zoom: number;
  width: number;
  height: number;
}

export class Overlay {
  private readonly cells: HTMLDivElement;
  private readonly grid: HTMLDivElement;
  private readonly headers: HTMLDivElement;
  private readonly labels: HTMLDivElement;
  private readonly hover: HTMLDivElement;
  private rowHeaders: HTMLDivElement[] = [];
  /** per block of the grid, its head headers */
  private colHeaders: HTMLDivElement[][] = [];
  private cellLabels: HTMLDivElement[] = [];
  private size = { layers: 0, heads: 0, blocks: 0 };

  constructor(under: HTMLElement, over: HTMLElement) {
    under.classList.add("avz-overlay");
    over.classList.add("avz-overlay");
    this.cells = div(under, "avz-world avz-cells");
    this.grid = div(over, "avz-world avz-grid");
    this.hover = div(this.grid, "avz-hover");
    this.headers = div(over, "avz-headers");
    this.labels = div(over, "avz-labels");
  }

  /**
   * Build the matrix decoration for a run; `missing` cells (no layout yet) are drawn hatched,
   * `marked` ones (keys left untranslated by the automatic rule) carry a corner mark.
   */
  setMatrix(
    layers: number,
    heads: number,
    missing: (layer: number, head: number) => boolean,
    marked: (layer: number, head: number) => boolean = () => false,
  ): void {
    const blocks = currentGrid().blocks;
    if (this.size.layers !== layers || this.size.heads !== heads || this.size.blocks !== blocks) {
      this.size = { layers, heads, blocks };
      this.cells.replaceChildren();
      this.grid.replaceChildren(this.hover);
      this.headers.replaceChildren();
      this.cellLabels = [];
      for (let l = 0; l < layers; l++) {
        for (let h = 0; h < heads; h++) {
          const [x, y] = cellOrigin(l, h);
          const cell = div(this.cells, "avz-cell");
          cell.dataset.cell = `${l}.${h}`;
          place(cell, x, y, CELL, CELL);
          const label = div(this.grid, "avz-cell-label");
          label.textContent = `L${l} H${h}`;
          place(label, x, y, CELL, 0);
          this.cellLabels.push(label);
        }
      }
      this.rowHeaders = Array.from({ length: layers }, (_, l) => header(this.headers, `L${l}`, "avz-row"));
      this.colHeaders = Array.from({ length: blocks }, () =>
        Array.from({ length: heads }, (_, h) => header(this.headers, `H${h}`, "avz-col")),
      );
    }
    for (const mark of [...this.grid.querySelectorAll(".avz-raw")]) mark.remove();
    const cells = this.cells.children as HTMLCollectionOf<HTMLDivElement>;
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i];
      const [l, h] = (cell.dataset.cell ?? "0.0").split(".").map(Number);
      // cells follow the head atlas's arrangement by a metric (sorted, or only the top K shown)
      const [x, y] = cellOrigin(l, h);
      cell.hidden = this.cellLabels[i].hidden = !cellShown(l, h);
      place(cell, x, y, CELL, CELL);
      place(this.cellLabels[i], x, y, CELL, 0);
      cell.classList.toggle("missing", missing(l, h));
      if (marked(l, h) && cellShown(l, h)) {
        const [x, y] = cellOrigin(l, h);
        const mark = div(this.grid, "avz-raw");
        mark.dataset.cell = `${l}.${h}`;
        place(mark, x + CELL, y, 0, 0);
      }
    }
    const arranged = currentArrangement();
    for (const el of this.rowHeaders) el.hidden = arranged?.kind === "top";
    for (const el of this.colHeaders.flat()) el.hidden = arranged !== null; // columns are no longer heads
  }

  /**
   * Colour each cell (compare mode: by drift): a frame in the colour around a light wash of it, so
   * the points stay readable; null gives the cells back their theme colour.
   */
  /** The head atlas: frame each cell in its metric's colour (`.avz-cell.metric`, atlas/MetricPanel.svelte), or none. */
  colorCells(color: ((layer: number, head: number) => string | null) | null): void {
    for (const cell of this.cells.children as HTMLCollectionOf<HTMLDivElement>) {
      const [l, h] = (cell.dataset.cell ?? "0.0").split(".").map(Number);
      const c = color?.(l, h) ?? null;
      cell.classList.toggle("metric", c !== null);
      cell.style.setProperty("--avz-metric", c ?? "transparent");
    }
  }

  setTint(color: ((layer: number, head: number) => string | null) | null): void {
    for (const cell of this.cells.children as HTMLCollectionOf<HTMLDivElement>) {
      const [l, h] = (cell.dataset.cell ?? "0.0").split(".").map(Number);
      const c = color?.(l, h) ?? null;
      cell.style.background = c ? `color-mix(in srgb, ${c} 35%, var(--cell))` : "";
      cell.style.boxShadow = c ? `inset 0 0 0 4px ${c}` : "";
      if (c) cell.dataset.tint = c;
      else delete cell.dataset.tint;
    }
  }

  showMatrix(visible: boolean): void {
    for (const el of [this.cells, this.grid, this.headers]) el.hidden = !visible;
  }

  setHovered(cell: Cell | null): void {
    this.hover.hidden = !cell;
    if (cell) {
      const [x, y] = cellOrigin(cell.layer, cell.head);
      place(this.hover, x, y, CELL, CELL);
    }
  }

  setLabels(labels: LabelBox[]): void {
    const nodes = this.labels.children as HTMLCollectionOf<HTMLSpanElement>;
    while (nodes.length > labels.length) nodes[nodes.length - 1].remove();
    labels.forEach((label, i) => {
      const node = nodes[i] ?? this.labels.appendChild(document.createElement("span"));
      if (node.textContent !== label.text) node.textContent = label.text;
      node.className = `avz-label ${label.kind}${label.emphasis ? ` ${label.emphasis}` : ""}`;
      node.style.transform = `translate(${Math.round(label.x + 4)}px, ${Math.round(label.y - 8)}px)`;
    });
  }

  /** Follow the 2D camera: world containers move as one; headers stay on the screen edges. */
  update({ target, zoom, width, height }: Projection): void {
    const s = 2 ** zoom;
    const tx = width / 2 - target[0] * s;
    const ty = height / 2 - target[1] * s;
    const transform = `translate(${tx}px, ${ty}px) scale(${s})`;
    this.cells.style.transform = transform;
    this.cells.style.setProperty("--avz-scale", String(s));
    this.grid.style.transform = transform;
    this.grid.classList.toggle("small", CELL * s < 70);
    this.grid.style.setProperty("--avz-scale", String(s));
    // where cells are narrower than their header, label every k-th row or column only
    const rowStep = Math.ceil(16 / (PITCH * s));
    const colStep = Math.ceil(32 / (PITCH * s));
    // each block of a folded grid has its own layer headers (left of it) and head headers (above it)
    const rows = currentGrid().rows;
    this.rowHeaders.forEach((el, l) => {
      const [x, y] = cellOrigin(l, 0);
      const left = tx + x * s;
      el.style.transform = `translate(${l < rows ? Math.max(4, left - 34) : left - 34}px, ${ty + (y + CELL / 2) * s - 8}px)`;
      el.style.visibility = (l % rows) % rowStep ? "hidden" : "";
    });
    this.colHeaders.forEach((block, b) =>
      block.forEach((el, h) => {
        const x = tx + (cellOrigin(b * rows, h)[0] + CELL / 2) * s;
        el.style.transform = `translate(${x - 20}px, ${Math.max(4, ty - 34)}px)`;
        el.style.visibility = h % colStep ? "hidden" : "";
      }),
    );
  }
}

function div(parent: HTMLElement, className: string): HTMLDivElement {
  const el = document.createElement("div");
  el.className = className;
  parent.appendChild(el);
  return el;
}

function header(parent: HTMLElement, text: string, className: string): HTMLDivElement {
  const el = div(parent, `avz-header ${className}`);
  el.textContent = text;
  return el;
}

function place(el: HTMLElement, x: number, y: number, w: number, h: number): void {
  el.style.left = `${x}px`;
  el.style.top = `${y}px`;
  el.style.width = `${w}px`;
  el.style.height = `${h}px`;
}
