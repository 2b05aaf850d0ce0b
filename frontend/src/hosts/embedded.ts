// What the embedded hosts share (the notebook widget, hosts/widget.ts; the single-file export,
// hosts/file.ts): a box in someone else's page for the App, and keyboard handling that stays in it.

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

const APP_KEYS = new Set(["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Escape", "[", "]"]);

/**
 * The App steps through heads on arrow keys anywhere in the window; in someone else's page (a
 * notebook moves between cells on them) only keys pressed inside `box` reach it. Registered before
 * the App mounts, so it runs before the App's own window listener; the page's handlers ran already.
 */
export function scopeKeys(box: HTMLElement): () => void {
  const listener = (event: KeyboardEvent) => {
    if (APP_KEYS.has(event.key) && !box.contains(event.target as Node)) event.stopImmediatePropagation();
  };
  window.addEventListener("keydown", listener);
  return () => window.removeEventListener("keydown", listener);
}
