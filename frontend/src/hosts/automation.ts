// The automation hook every host installs as `window.__attentionviz`: tests, the snapshot
// command and the figure buttons wait on `whenRendered()` instead of sleeping.

import type { Controller, RenderEvent } from "../app/controller";
import { app } from "../app/state.svelte";

export interface Automation {
  controller: Controller;
  readonly state: "rendered" | "busy";
  readonly error: string;
  renders: RenderEvent[];
  whenRendered(): Promise<RenderEvent>;
  cells(): ReturnType<Controller["cells"]>;
  cellPoints(layer: number, head: number): ReturnType<Controller["cellPoints"]>;
  search(): typeof app.searchInfo;
}

declare global {
  interface Window {
    __attentionviz: Automation;
  }
}

/** Record `controller`'s render events and expose them as `window.__attentionviz`. */
export function installAutomation(controller: Controller): Automation {
  const renders: RenderEvent[] = [];
  let waiting: ((event: RenderEvent) => void)[] = [];
  controller.onRendered((event) => {
    renders.push(event);
    const resolve = waiting;
    waiting = [];
    for (const r of resolve) r(event);
    window.dispatchEvent(new CustomEvent("attentionviz:rendered", { detail: event }));
  });
  const automation: Automation = {
    controller,
    get state() {
      return app.rendered ? "rendered" : "busy";
    },
    get error() {
      return app.error;
    },
    renders,
    whenRendered() {
      if (app.rendered && renders.length) return Promise.resolve(renders[renders.length - 1]);
      return new Promise((resolve) => waiting.push(resolve));
    },
    cells: () => controller.cells(),
    cellPoints: (layer, head) => controller.cellPoints(layer, head),
    search: () => app.searchInfo,
  };
  window.__attentionviz = automation;
  return automation;
}
