// The page host: the app served by `attentionviz serve`, reading its data over HTTP and keeping
// its state in the address bar. A widget host or a static export mounts the same App with another
// DataSource and URL handling.

import { mount } from "svelte";
import App from "../app/App.svelte";
import { Controller, type RenderEvent } from "../app/controller";
import { app } from "../app/state.svelte";
import { parseUrlState } from "../app/url";
import { HttpDataSource } from "../data/http";
import * as attentionMath from "../views/attention";

declare global {
  interface Window {
    /** Automation hook: tests and snapshot tools wait on `whenRendered()` instead of sleeping. */
    __attentionviz: {
      controller: Controller;
      readonly state: "rendered" | "busy";
      readonly error: string;
      renders: RenderEvent[];
      whenRendered(): Promise<RenderEvent>;
      cells(): ReturnType<Controller["cells"]>;
      search(): typeof app.searchInfo;
      /** the pure attention functions the views use (checked against numpy by the browser tests) */
      math: typeof attentionMath;
    };
  }
}

const params = new URLSearchParams(location.search);
const budget = Number(params.get("budget")) || undefined;
const controller = new Controller(new HttpDataSource("api"), {
  budget,
  onUrl: (query, push) => {
    const url = `${location.pathname}?${query}`;
    if (url === `${location.pathname}${location.search}`) return;
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  },
});

const renders: RenderEvent[] = [];
let waiting: ((event: RenderEvent) => void)[] = [];
controller.onRendered((event) => {
  renders.push(event);
  const resolve = waiting;
  waiting = [];
  for (const r of resolve) r(event);
  window.dispatchEvent(new CustomEvent("attentionviz:rendered", { detail: event }));
});

window.__attentionviz = {
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
  search: () => app.searchInfo,
  math: attentionMath,
};

mount(App, { target: document.getElementById("app")!, props: { controller } });
window.addEventListener("popstate", () => void controller.set(parseUrlState(location.search)));
void controller.start(parseUrlState(location.search));
