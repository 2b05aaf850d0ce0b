// What the embedded hosts share (the notebook widget, hosts/widget.ts; the single-file export,
// hosts/file.ts): a box in someone else's page for the App.

/** Answers a URL as `fetch` would: how an embedded host's DataSource gets its data. */
export type Transport = (url: string, init?: RequestInit) => Promise<Response>;

/** The container the App fills: a box of the host's height, with the App's page-level sizes undone. */
export function container(el: HTMLElement, height: string): HTMLDivElement {
  const style = document.createElement("style");
  style.textContent = ".avz-embed{position:relative;overflow:hidden}.avz-embed .app{height:100% !important}";
  const box = document.createElement("div");
  box.className = "avz-embed";
  box.style.height = height;
  el.append(style, box);
  return box;
}
