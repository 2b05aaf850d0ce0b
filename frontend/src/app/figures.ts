// Figures from the UI: the current view as a PNG at 1x/2x/4x (the deck canvas redrawn at that pixel
// ratio, with the HTML drawn around it: cell backgrounds under it, labels and headers over it), and
// the Sentence View as an SVG file (its own elements, with their computed styles written inline).

import type { Deck } from "@deck.gl/core";
import type { Controller } from "./controller";
import { app } from "./state.svelte";

export const PNG_SCALES = [1, 2, 4] as const;

/** Save a file the browser's usual way (a download). */
export function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function figureName(extension: string, extra = ""): string {
  const where = app.view === "single" ? `L${app.layer}H${app.head}-${app.method}${app.dim}d` : `matrix-${app.method}`;
  return `attentionviz-${app.run}-${where}${extra}.${extension}`.replace(/[^\w.@-]+/g, "_");
}

/** The view as it is on screen, `scale` device pixels per CSS pixel: a PNG blob. */
export async function viewPng(controller: Controller, scale: number): Promise<Blob> {
  const canvas = controller.canvas;
  if (!canvas) throw new Error("nothing is drawn yet");
  const host = canvas.parent;
  const box = host.getBoundingClientRect();
  const width = Math.floor(box.width * scale);
  const height = Math.floor(box.height * scale);
  const out = document.createElement("canvas");
  out.width = width;
  out.height = height;
  const ctx = out.getContext("2d");
  if (!ctx) throw new Error("this browser cannot draw a 2D canvas");
  ctx.fillStyle = getComputedStyle(host).getPropertyValue("--bg").trim() || "#ffffff";
  ctx.fillRect(0, 0, width, height);
  const siblings = [...(host.parentElement?.children ?? [])].filter((el) => el.classList.contains("layer"));
  const position = (el: Element) => host.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING;
  for (const layer of siblings.filter(position)) drawHtml(ctx, layer as HTMLElement, box, scale);
  await drawDeck(canvas.deck, scale, width, height, (source) => ctx.drawImage(source, 0, 0, width, height));
  for (const layer of siblings.filter((el) => !position(el))) drawHtml(ctx, layer as HTMLElement, box, scale);
  return new Promise((resolve, reject) =>
    out.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the PNG could not be encoded"))), "image/png"),
  );
}

/** Redraw the deck at `scale` and hand its canvas to `draw` within that frame (WebGL keeps no copy). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function drawDeck(deck: Deck<any>, scale: number, width: number, height: number, draw: (source: HTMLCanvasElement) => void): Promise<void> {
  const original = deck.props.onAfterRender;
  const restore = () => {
    deck.setProps({ useDevicePixels: true, onAfterRender: original });
    deck.redraw("figure saved");
  };
  return new Promise((resolve, reject) => {
    let frames = 0;
    deck.setProps({
      useDevicePixels: scale,
      onAfterRender: (context) => {
        original?.(context);
        const source = deck.getCanvas();
        if (!source) return;
        if ((source.width !== width || source.height !== height) && ++frames < 10) {
          deck.redraw("figure: waiting for the buffer size");
          return;
        }
        try {
          draw(source);
          resolve();
        } catch (error) {
          reject(error as Error);
        } finally {
          restore();
        }
      },
    });
    deck.redraw("figure");
  });
}

/** Draw an HTML layer's boxes and text (backgrounds, borders, labels) into `ctx`, clipped to `box`. */
function drawHtml(ctx: CanvasRenderingContext2D, root: HTMLElement, box: DOMRect, scale: number): void {
  ctx.save();
  ctx.beginPath();
  ctx.rect(0, 0, box.width * scale, box.height * scale);
  ctx.clip();
  ctx.scale(scale, scale);
  ctx.translate(-box.left, -box.top);
  for (const el of root.querySelectorAll<HTMLElement>("*")) {
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const alpha = opacity(el, root);
    if (alpha <= 0) continue;
    const r = el.getBoundingClientRect();
    ctx.globalAlpha = alpha;
    if (r.width && r.height) {
      if (visible(style.backgroundColor)) {
        ctx.fillStyle = style.backgroundColor;
        ctx.fillRect(r.left, r.top, r.width, r.height);
      }
      const border = Number.parseFloat(style.borderTopWidth);
      if (border > 0 && visible(style.borderTopColor)) {
        ctx.strokeStyle = style.borderTopColor;
        ctx.lineWidth = border;
        ctx.strokeRect(r.left + border / 2, r.top + border / 2, r.width - border, r.height - border);
      }
    }
    const zoom = el.offsetWidth ? r.width / el.offsetWidth : 1;
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE || !node.textContent?.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const t = range.getBoundingClientRect();
      ctx.font = `${style.fontStyle} ${style.fontWeight} ${Number.parseFloat(style.fontSize) * zoom}px ${style.fontFamily}`;
      ctx.textBaseline = "middle";
      ctx.fillStyle = style.color;
      ctx.fillText(node.textContent, t.left, t.top + t.height / 2);
    }
  }
  ctx.restore();
}

function opacity(el: HTMLElement, root: HTMLElement): number {
  let alpha = 1;
  for (let node: HTMLElement | null = el; node && node !== root; node = node.parentElement) {
    alpha *= Number(getComputedStyle(node).opacity);
  }
  return alpha;
}

function visible(color: string): boolean {
  return color !== "transparent" && !/rgba\(.*,\s*0\)$/.test(color);
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** the computed styles written inline, per element (lines carry theirs as attributes already) */
const INLINE: Record<string, string[]> = {
  text: ["fill", "font-family", "font-size", "font-weight", "font-style", "text-decoration"],
  line: ["stroke", "stroke-opacity", "stroke-width"],
};

/** A standalone SVG document of an SVG element on the page, with a title line above it. */
export function svgDocument(svg: SVGSVGElement, title: string): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const originals = [svg, ...svg.querySelectorAll("*")];
  const copies = [clone, ...clone.querySelectorAll("*")];
  originals.forEach((el, i) => {
    const style = getComputedStyle(el);
    const copy = copies[i] as SVGElement;
    for (const name of INLINE[el.tagName.toLowerCase()] ?? []) {
      const value = style.getPropertyValue(name);
      if (value && !(name === "text-decoration" && value.startsWith("none"))) copy.style.setProperty(name, value);
    }
    for (const attribute of [...copy.attributes]) {
      if (attribute.name.startsWith("data-") || ["class", "role", "tabindex"].includes(attribute.name)) copy.removeAttribute(attribute.name);
    }
  });
  const width = Number(svg.getAttribute("width")) || svg.getBoundingClientRect().width;
  const height = Number(svg.getAttribute("height")) || svg.getBoundingClientRect().height;
  const header = 22;
  const doc = document.createElementNS(SVG_NS, "svg");
  doc.setAttribute("xmlns", SVG_NS);
  doc.setAttribute("width", String(width));
  doc.setAttribute("height", String(height + header));
  doc.setAttribute("viewBox", `0 0 ${width} ${height + header}`);
  const background = document.createElementNS(SVG_NS, "rect");
  background.setAttribute("width", "100%");
  background.setAttribute("height", "100%");
  background.setAttribute("fill", "#ffffff");
  const caption = document.createElementNS(SVG_NS, "text");
  caption.setAttribute("x", "8");
  caption.setAttribute("y", "15");
  caption.setAttribute("style", "font: 600 12px system-ui, sans-serif; fill: #282c34");
  caption.textContent = title;
  const body = document.createElementNS(SVG_NS, "g");
  body.setAttribute("transform", `translate(0, ${header})`);
  body.append(...clone.childNodes);
  doc.append(background, caption, body);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(doc)}\n`;
}
