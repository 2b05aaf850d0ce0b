// Colour encodings of the points (the original's, with its miscounts fixed) and their legends.

import type { RunData } from "../data/run-data";

export type Rgba = [number, number, number, number];
export type ColorMode =
  | "query_key"
  | "position"
  | "pos_mod_5"
  | "punctuation"
  | "norm"
  | "keys_needed"
  | "token_length"
  | "seq_length"
  | "frequency"
  | "patch_row"
  | "patch_col";

export interface ColorModeInfo {
  id: ColorMode;
  label: string;
  description: string;
  /** needs the head's q/k norms */
  perHead: boolean;
  /** the kinds of run it means something for (token text, sentence positions: text; patches: image) */
  kinds: readonly RunKind[];
}

export type RunKind = "text" | "image";
const TEXT: readonly RunKind[] = ["text"];
const IMAGE: readonly RunKind[] = ["image"];
const BOTH: readonly RunKind[] = ["text", "image"];

export const COLOR_MODES: ColorModeInfo[] = [
  { id: "query_key", label: "query vs. key", description: "Queries are green, keys are pink.", perHead: false, kinds: BOTH },
  {
    id: "position",
    label: "position",
    description: "The token's position in its sequence, normalised to 0..1: light at the start, dark at the end.",
    perHead: false,
    kinds: TEXT,
  },
  {
    id: "pos_mod_5",
    label: "position mod 5",
    description: "Position modulo 5 as five hues; queries take the dark shade, keys the light one.",
    perHead: false,
    kinds: TEXT,
  },
  {
    id: "punctuation",
    label: "punctuation / special",
    description: "Punctuation and special tokens ([CLS], [SEP], BOS, ...) against words and numbers.",
    perHead: false,
    kinds: TEXT,
  },
  {
    id: "norm",
    label: "q/k norm",
    description: "The length of each query or key vector in this head, as the model multiplies them.",
    perHead: true,
    kinds: BOTH,
  },
  {
    id: "keys_needed",
    label: "keys for 90%",
    description:
      "How many keys hold 90% of this query's attention (1: it looks at one token; many: it spreads out). Keys are grey. Single View.",
    perHead: true,
    kinds: BOTH,
  },
  { id: "token_length", label: "token length", description: "Characters in the token's text.", perHead: false, kinds: TEXT },
  { id: "seq_length", label: "sequence length", description: "Tokens in the token's sequence.", perHead: false, kinds: TEXT },
  {
    id: "frequency",
    label: "token frequency",
    description: "How often the token's text occurs in the corpus (each token counted once), on a log scale.",
    perHead: false,
    kinds: TEXT,
  },
  { id: "patch_row", label: "patch row", description: "The patch's row in its image, top (light) to bottom (dark); [CLS] lightest.", perHead: false, kinds: IMAGE },
  { id: "patch_col", label: "patch column", description: "The patch's column in its image, left (light) to right (dark); [CLS] lightest.", perHead: false, kinds: IMAGE },
];

/** The colour modes that mean something for a run of this kind, in menu order. */
export function colorModesFor(kind: string): ColorModeInfo[] {
  return COLOR_MODES.filter((mode) => mode.kinds.includes(kind === "image" ? "image" : "text"));
}

export const QUERY: Rgba = [95, 185, 108, 255];
export const KEY: Rgba = [227, 55, 143, 255];
const PUNCT_QUERY: Rgba = [95, 185, 108, 255];
const PUNCT_KEY: Rgba = [46, 147, 217, 255];
const WORD_QUERY: Rgba = [243, 146, 38, 255];
const WORD_KEY: Rgba = [227, 55, 143, 255];
/** (key, query) pairs of the "paired" palette */
const MOD5: [string, string][] = [
  ["#F5C0CA", "#E3378F"],
  ["#F0D6A5", "#EDB50E"],
  ["#C4D6B8", "#5FB96C"],
  ["#C8DDED", "#528DDB"],
  ["#D6BAE3", "#A144DB"],
];
const YLGN = ["#ffffe5", "#f7fcb9", "#d9f0a3", "#addd8e", "#78c679", "#41ab5d", "#238443", "#006837", "#004529"];
const PURD = ["#f7f4f9", "#e7e1ef", "#d4b9da", "#c994c7", "#df65b0", "#e7298a", "#ce1256", "#980043", "#67001f"];

const NEUTRAL: Rgba = [200, 200, 204, 255];
export const ALPHA = 190;
export const FADED = 22;
export const HIT = 245;

export function hex(color: string): Rgba {
  const v = parseInt(color.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255, 255];
}

export function css(c: Rgba, alpha = 1): string {
  return `rgba(${c[0]},${c[1]},${c[2]},${alpha})`;
}

function lut(stops: string[]): Uint8Array {
  const rgb = stops.map(hex);
  const out = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (rgb.length - 1);
    const j = Math.min(Math.floor(x), rgb.length - 2);
    const f = x - j;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(rgb[j][c] * (1 - f) + rgb[j + 1][c] * f);
  }
  return out;
}

/** viridis (matplotlib's perceptually uniform map), dark purple (low) to yellow (high) */
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
const HEAT = lut(VIRIDIS);

/** A heatmap's colour for v in [0, 1] (clamped): viridis, perceptually uniform, light at the top. */
export function heat(v: number): Rgba {
  const i = Math.round(Math.max(0, Math.min(1, v)) * 255) * 3;
  return [HEAT[i], HEAT[i + 1], HEAT[i + 2], 255];
}

/** The heat scale as a CSS gradient, low to high. */
export const HEAT_GRADIENT = `linear-gradient(to right, ${VIRIDIS.join(", ")})`;

const QUERY_RAMP = lut(YLGN);
const KEY_RAMP = lut(PURD);

/** Ramp colour for v in [0, 1] (clamped): darker = higher (0.25 + 0.75 v, as the original). */
export function ramp(isKey: boolean, v: number): Rgba {
  const table = isKey ? KEY_RAMP : QUERY_RAMP;
  const i = Math.round((0.25 + 0.75 * Math.max(0, Math.min(1, v))) * 255) * 3;
  return [table[i], table[i + 1], table[i + 2], 255];
}

const PUNCTUATION = /^[\p{P}\p{S}\s]+$/u;

export function isPunctuation(data: RunData, t: number): boolean {
  return data.tokens.special[t] === 1 || PUNCTUATION.test(data.tokens.values[data.tokens.token[t]]);
}

interface Scale {
  low: number;
  high: number;
  value: (t: number, row: number) => number;
}

/** The per-token number a continuous mode encodes, with its extent over the data. */
function scale(mode: ColorMode, data: RunData, norms: Float32Array | null): Scale | null {
  const { tokens } = data;
  const extent = (f: (t: number) => number): [number, number] => {
    let low = Infinity;
    let high = -Infinity;
    for (let t = 0; t < tokens.n; t++) {
      const v = f(t);
      if (v < low) low = v;
      if (v > high) high = v;
    }
    return [low, high];
  };
  switch (mode) {
    case "position":
      return {
        low: 0,
        high: 1,
        value: (t) => (tokens.seqLen[t] > 1 ? tokens.position[t] / (tokens.seqLen[t] - 1) : 0),
      };
    case "token_length": {
      const f = (t: number) => [...tokens.values[tokens.token[t]]].length;
      const [low, high] = extent(f);
      return { low, high, value: f };
    }
    case "seq_length": {
      const f = (t: number) => tokens.seqLen[t];
      const [low, high] = extent(f);
      return { low, high, value: f };
    }
    case "frequency": {
      const f = (t: number) => Math.log(data.frequency[tokens.token[t]]);
      const [low, high] = extent(f);
      return { low: Math.exp(low), high: Math.exp(high), value: (t) => (high > low ? (f(t) - low) / (high - low) : 0) };
    }
    case "norm":
    case "keys_needed": {
      // per level-of-detail row: the q/k norms, or each query's keys for 90% (NaN for key rows)
      if (!norms) return null;
      let low = Infinity;
      let high = -Infinity;
      for (const v of norms) {
        if (v < low) low = v;
        if (v > high) high = v;
      }
      return { low, high, value: (_t, row) => norms[row] };
    }
    case "patch_row":
    case "patch_col": {
      const patch = mode === "patch_row" ? tokens.patchRow : tokens.patchCol;
      if (!patch) return null;
      let high = 1;
      for (const v of patch) if (v > high) high = v;
      return { low: 0, high: 1, value: (t) => Math.max(0, patch[t]) / high };
    }
    default:
      return null;
  }
}

/**
 * RGBA per point for the first `rows` rows of the level-of-detail order. `norms` (same order)
 * is needed for the "norm" mode; `hits` (per token) fades everything but the search hits.
 */
export function colorRows(
  mode: ColorMode,
  data: RunData,
  rows: number,
  { norms = null, hits = null }: { norms?: Float32Array | null; hits?: Uint8Array | null } = {},
): Uint8Array {
  const { tokens, order } = data;
  const n = tokens.n;
  const out = new Uint8Array(rows * 4);
  const s = scale(mode, data, norms);
  const normalise = s && mode !== "frequency" && mode !== "position" && mode !== "patch_row" && mode !== "patch_col";
  const span = s && s.high > s.low ? s.high - s.low : 1;
  for (let i = 0; i < rows; i++) {
    const row = order[i];
    const isKey = row >= n;
    const t = isKey ? row - n : row;
    let c: Rgba;
    switch (mode) {
      case "pos_mod_5":
        c = hex(MOD5[tokens.position[t] % 5][isKey ? 0 : 1]);
        break;
      case "punctuation":
        c = isPunctuation(data, t) ? (isKey ? PUNCT_KEY : PUNCT_QUERY) : isKey ? WORD_KEY : WORD_QUERY;
        break;
      case "query_key":
        c = isKey ? KEY : QUERY;
        break;
      default: {
        if (!s) {
          c = isKey ? KEY : QUERY;
          break;
        }
        const raw = s.value(t, i);
        c = Number.isNaN(raw) ? NEUTRAL : ramp(isKey, normalise ? (raw - s.low) / span : raw);
      }
    }
    out[i * 4] = c[0];
    out[i * 4 + 1] = c[1];
    out[i * 4 + 2] = c[2];
    out[i * 4 + 3] = hits ? (hits[t] ? HIT : FADED) : ALPHA;
  }
  return out;
}

export interface LegendItem {
  label: string;
  color?: string;
  gradient?: string;
}

export interface LegendSpec {
  description: string;
  items: LegendItem[];
  /** labels at the two ends of gradient items */
  ends?: [string, string];
}

function gradient(isKey: boolean): string {
  const stops = [0, 0.25, 0.5, 0.75, 1].map((v) => css(ramp(isKey, v)));
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

export function legend(mode: ColorMode, data: RunData | null, norms: Float32Array | null = null): LegendSpec {
  const info = COLOR_MODES.find((m) => m.id === mode) ?? COLOR_MODES[0];
  const ramps = (ends: [string, string]): LegendSpec => ({
    description: info.description,
    items: [
      { label: "query", gradient: gradient(false) },
      { label: "key", gradient: gradient(true) },
    ],
    ends,
  });
  const s = data ? scale(mode, data, norms) : null;
  switch (mode) {
    case "query_key":
      return {
        description: info.description,
        items: [
          { label: "query", color: css(QUERY) },
          { label: "key", color: css(KEY) },
        ],
      };
    case "pos_mod_5":
      return {
        description: info.description,
        items: MOD5.map(([k, q], i) => ({ label: `${i}`, gradient: `linear-gradient(to right, ${q} 50%, ${k} 50%)` })),
      };
    case "punctuation":
      return {
        description: info.description,
        items: [
          { label: ".?! query", color: css(PUNCT_QUERY) },
          { label: ".?! key", color: css(PUNCT_KEY) },
          { label: "abc query", color: css(WORD_QUERY) },
          { label: "abc key", color: css(WORD_KEY) },
        ],
      };
    case "position":
      return ramps(["start", "end"]);
    case "patch_row":
      return ramps(["top", "bottom"]);
    case "patch_col":
      return ramps(["left", "right"]);
    default:
      return ramps(s ? [fmt(s.low), fmt(s.high)] : ["low", "high"]);
  }
}
