// Image runs: each point drawn as its patch thumbnail (a tile of the run's patch atlas), over a
// disc in the query or key colour so the two copies stay apart.

import type { Layer } from "@deck.gl/core";
import { IconLayer } from "@deck.gl/layers";
import type { RunData } from "../data/run-data";
import { PointsLayer } from "../render/points-layer";
import { THEMES, tokenOf, type Theme } from "./common";

const TILE = 16;
const atlases = new Map<string, Promise<HTMLImageElement>>();
const loaded = new Map<string, HTMLImageElement>();

/** Load (once) the patch atlas at `url`; resolves when the image is decoded. */
export function loadAtlas(url: string): Promise<HTMLImageElement> {
  let promise = atlases.get(url);
  if (!promise) {
    promise = new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => {
        loaded.set(url, image);
        resolve(image);
      };
      image.onerror = () => reject(new Error(`cannot load the patch atlas ${url}`));
      image.src = url;
    });
    atlases.set(url, promise);
  }
  return promise;
}

/** The atlas at `url` if it has finished loading. */
export function atlasFor(url: string): HTMLImageElement | null {
  return loaded.get(url) ?? null;
}

const mappings = new WeakMap<HTMLImageElement, Record<string, { x: number; y: number; width: number; height: number }>>();

function mappingOf(atlas: HTMLImageElement, n: number): Record<string, { x: number; y: number; width: number; height: number }> {
  let mapping = mappings.get(atlas);
  if (!mapping) {
    const columns = Math.max(1, Math.floor(atlas.naturalWidth / TILE));
    mapping = {};
    for (let t = 0; t < n; t++) mapping[t] = { x: (t % columns) * TILE, y: Math.floor(t / columns) * TILE, width: TILE, height: TILE };
    mappings.set(atlas, mapping);
  }
  return mapping;
}

export function patchLayers(
  data: RunData,
  atlas: HTMLImageElement,
  options: { theme: Theme; dim: number; rows: number; positions: Float32Array; worldOf: (index: number) => number[]; pixels?: number },
): Layer[] {
  const theme = THEMES[options.theme];
  const pixels = options.pixels ?? 14;
  const colors = new Uint8Array(options.rows * 4);
  const items: { index: number; icon: string }[] = [];
  for (let i = 0; i < options.rows; i++) {
    const { token, isKey } = tokenOf(data, data.order[i]);
    colors.set(isKey ? theme.keyHit : theme.queryHit, i * 4);
    items.push({ index: i, icon: String(token) });
  }
  return [
    new PointsLayer({
      id: "patch-borders",
      data: { length: options.rows, attributes: { getPosition: { value: options.positions, size: options.dim }, getColor: { value: colors, size: 4 } } },
      dim: options.dim,
      radius: 100,
      minPixels: pixels * 1.45,
      maxPixels: pixels * 1.45,
    }),
    new IconLayer({
      id: "patch-thumbnails",
      data: items,
      iconAtlas: atlas as unknown as string,
      iconMapping: mappingOf(atlas, data.n),
      getIcon: (d: { icon: string }) => d.icon,
      getPosition: (d: { index: number }) => options.worldOf(d.index) as [number, number],
      getSize: pixels,
      sizeUnits: "pixels",
      textureParameters: { minFilter: "nearest", magFilter: "nearest" },
      // the points layer projects with its own matrix: never let its depth hide a thumbnail
      parameters: { depthCompare: "always", depthWriteEnabled: false },
    }),
  ];
}
