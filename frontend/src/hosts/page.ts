// The page host: the app served by `attentionviz serve` (or a static export), reading its data over
// HTTP and keeping its state in the address bar. The embedded host (hosts/embed.ts: the notebook
// widget and the single-file export) mounts the same App with another transport.

import { mount } from "svelte";
import App from "../app/App.svelte";
import { Controller } from "../app/controller";
import { givenKeys, parseUrlState } from "../app/url";
import { HttpDataSource } from "../data/http";
import { installAutomation } from "./automation";

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

installAutomation(controller);
mount(App, { target: document.getElementById("app")!, props: { controller } });
window.addEventListener("popstate", () => void controller.set(parseUrlState(location.search)));
void controller.start(parseUrlState(location.search), givenKeys(location.search));
