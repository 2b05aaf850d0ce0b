// The notebook widget's host (anywidget): the App in a notebook output, its requests sent over the
// widget comm as custom messages and answered by attentionviz.widget in Python with the server's
// own routes; run/compare/scrub/layer/head/view/projection/dim/color/theme are synced traits; the
// selection goes back.

import { mount, unmount } from "svelte";
import App from "../app/App.svelte";
import { Controller } from "../app/controller";
import type { Selection } from "../app/selection.svelte";
import { app } from "../app/state.svelte";
import { DEFAULTS, type UrlState } from "../app/url";
import { HttpDataSource } from "../data/http";
import type { RunDetails } from "../data/types";
import { installAutomation } from "./automation";
import { container, type Transport } from "./embedded";
import { watchSelection } from "./selection-watch.svelte";

/** The part of anywidget's model this host uses. */
export interface WidgetModel {
  get(name: string): unknown;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, callback: (...args: never[]) => void): void;
  off(event?: string | null, callback?: ((...args: never[]) => void) | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
}

/** One row of `Widget.selection` (Python). */
export interface SelectedToken {
  sequence: number;
  position: number;
  token: string;
  kind: "query" | "key";
  layer: number;
  head: number;
}

const SYNCED: [trait: string, field: keyof UrlState][] = [
  ["run_id", "run"],
  ["compare", "compare"],
  ["scrub", "scrub"],
  ["view", "view"],
  ["layer", "layer"],
  ["head", "head"],
  ["projection", "method"],
  ["dim", "dim"],
  ["color", "color"],
  ["theme", "theme"],
  ["metric", "metric"],
];

/** HTTP-shaped requests over the comm; an image run's pictures fetched up front, shown from blob: URLs. */
class WidgetDataSource extends HttpDataSource {
  private readonly urls = new Map<string, string>();

  constructor(private readonly request: Transport) {
    super("api", request);
  }

  override async run(run: string): Promise<RunDetails> {
    const details = await super.run(run);
    if (details.kind === "image") {
      const paths = [this.patchPath(run), ...Array.from({ length: details.n_sequences }, (_, s) => this.imagePath(run, s))].filter(
        (path) => !this.urls.has(path), // fetched when the run first opened
      );
      await Promise.all(
        paths.map(async (path) => {
          const response = await this.request(path);
          if (response.ok) this.urls.set(path, URL.createObjectURL(await response.blob()));
        }),
      );
    }
    return details;
  }

  override imageUrl(run: string, sequence: number): string {
    return this.urls.get(this.imagePath(run, sequence)) ?? "";
  }

  override patchAtlasUrl(run: string): string {
    return this.urls.get(this.patchPath(run)) ?? "";
  }

  release(): void {
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
  }

  private imagePath(run: string, sequence: number): string {
    return `api/runs/${encodeURIComponent(run)}/images/${sequence}.png`;
  }

  private patchPath(run: string): string {
    return `api/runs/${encodeURIComponent(run)}/patches.png`;
  }
}

function mountApp(el: HTMLElement, transport: Transport, height: string, options: { onUrl?: () => void } = {}) {
  const source = new WidgetDataSource(transport);
  const controller = new Controller(source, { onUrl: options.onUrl });
  installAutomation(controller);
  const box = container(el, height);
  box.tabIndex = -1;
  // a notebook moves between cells on arrow keys: the App answers only keys pressed inside it
  const component = mount(App, { target: box, props: { controller, keyScope: box } });
  return { controller, box, component, release: () => source.release() };
}

interface Answer {
  type: "avz:answer";
  id: number;
  status: number;
  content_type: string;
}

/** Requests over the widget comm: {type: "avz:get", id, path} -> {type: "avz:answer", id, status} + body buffer. */
export function commTransport(model: WidgetModel): { transport: Transport; close(): void } {
  let next = 0;
  const pending = new Map<number, (response: Response) => void>();
  const onMessage = (message: Answer, buffers: (ArrayBuffer | DataView<ArrayBuffer>)[] = []) => {
    if (message?.type !== "avz:answer") return;
    const resolve = pending.get(message.id);
    if (!resolve) return;
    pending.delete(message.id);
    const body = buffers[0] ?? new ArrayBuffer(0);
    resolve(new Response(body, { status: message.status, headers: { "content-type": message.content_type } }));
  };
  model.on("msg:custom", onMessage as (...args: never[]) => void);
  const transport: Transport = (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const id = next++;
      pending.set(id, resolve);
      init?.signal?.addEventListener("abort", () => {
        pending.delete(id);
        reject(new DOMException("aborted", "AbortError"));
      });
      model.send({ type: "avz:get", id, path: url });
    });
  return { transport, close: () => model.off("msg:custom", onMessage as (...args: never[]) => void) };
}

export function selectedTokens(current: Selection | null): SelectedToken[] {
  if (!current || current.row < 0) return []; // a probe sequence: no token of the corpus
  const isKey = current.row >= current.total;
  const token = isKey ? current.row - current.total : current.row;
  const position = token - current.tokenStart;
  return [
    {
      sequence: current.sequence,
      position,
      token: current.tokens[position] ?? "",
      kind: isKey ? "key" : "query",
      layer: current.layer,
      head: current.head,
    },
  ];
}

/** Fields an empty string turns off (compare mode, the scrubber); for the others "" means unset. */
const EMPTY_OK = new Set<keyof UrlState>(["compare", "scrub", "metric"]);

function traitState(model: WidgetModel): Partial<UrlState> {
  const state: Record<string, unknown> = {};
  for (const [trait, field] of SYNCED) {
    const value = model.get(trait);
    if (value !== undefined && value !== null && (value !== "" || EMPTY_OK.has(field))) state[field] = value;
  }
  return state as Partial<UrlState>;
}

let mounted = 0;

/** anywidget's render: mount the App in `el`, talk to Python over `model`; returns the cleanup. */
export function render({ model, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  // The App keeps its state in this module: one live view per loaded bundle (per widget).
  if (mounted > 0) {
    el.textContent = "This attentionviz widget is shown in another output already; display a new attentionviz.Widget to see the run twice.";
    return () => {};
  }
  mounted++;
  const comm = commTransport(model);
  let started = false;
  const pushTraits = () => {
    if (!started) return;
    let changed = false;
    for (const [trait, field] of SYNCED) {
      const value = app[field];
      if (model.get(trait) !== value) {
        model.set(trait, value);
        changed = true;
      }
    }
    if (changed) model.save_changes();
  };
  const { controller, box, component, release } = mountApp(el, comm.transport, `${Number(model.get("height")) || 600}px`, {
    onUrl: pushTraits,
  });
  const onTrait = () => {
    const wanted = traitState(model);
    const differs = (Object.keys(wanted) as (keyof UrlState)[]).some((k) => wanted[k] !== app[k]);
    if (differs) void controller.set(wanted, { push: true });
  };
  for (const [trait] of SYNCED) model.on(`change:${trait}`, onTrait);
  const onHeight = () => (box.style.height = `${Number(model.get("height")) || 600}px`);
  model.on("change:height", onHeight);
  const stopWatching = watchSelection((current) => {
    if (!started) return;
    model.set("_selection", selectedTokens(current));
    model.save_changes();
  });
  void controller.start({ ...DEFAULTS, ...traitState(model) }).then(() => {
    started = true;
    pushTraits();
  });
  return () => {
    mounted--;
    release();
    stopWatching();
    comm.close();
    for (const [trait] of SYNCED) model.off(`change:${trait}`, onTrait);
    model.off("change:height", onHeight);
    controller.destroy();
    void unmount(component);
  };
}
