// The single-file export's host: the App over the files that `attentionviz export --single-file`
// wrote into the page (the folder export's api/ files, base64, keyed by path), from file:// with no
// server. Images are shown from data: URLs.

import { mount } from "svelte";
import App from "../app/App.svelte";
import { Controller } from "../app/controller";
import { givenKeys, parseUrlState } from "../app/url";
import { HttpDataSource } from "../data/http";
import { installAutomation } from "./automation";
import { container, type Transport } from "./embedded";

/** Answer "api/..." URLs from a map of the exported files (path -> base64); folders answer with index.html. */
export function fileTransport(files: Record<string, string>): Transport {
  return async (url) => {
    const path = decodeURIComponent(url.split("?")[0]);
    const data = files[path] ?? files[`${path}/index.html`];
    if (data === undefined) {
      return new Response(JSON.stringify({ detail: `${path} is not in this export` }), { status: 404 });
    }
    return new Response(base64Bytes(data));
  };
}

class FileDataSource extends HttpDataSource {
  constructor(private readonly files: Record<string, string>) {
    super("api", fileTransport(files));
  }

  override imageUrl(run: string, sequence: number): string {
    return this.dataUrl(`api/runs/${run}/images/${sequence}.png`);
  }

  override patchAtlasUrl(run: string): string {
    return this.dataUrl(`api/runs/${run}/patches.png`);
  }

  private dataUrl(path: string): string {
    return `data:image/png;base64,${this.files[path] ?? ""}`;
  }
}

/** Mount the app over the files of a single-file export, its state in the address bar's query. */
export function mountFiles(el: HTMLElement, files: Record<string, string>): Controller {
  const controller = new Controller(new FileDataSource(files), {
    onUrl: (query) => {
      try {
        history.replaceState(null, "", `?${query}`);
      } catch {
        // some browsers refuse history changes on file:// pages; the view still works
      }
    },
  });
  installAutomation(controller);
  mount(App, { target: container(el, "100vh"), props: { controller } });
  void controller.start(parseUrlState(location.search), givenKeys(location.search));
  return controller;
}

function base64Bytes(data: string): Uint8Array<ArrayBuffer> {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
