// What every view needs to know to draw: the run, the chosen layout and colouring, the search
// hits and the theme.

import type { RunData } from "../data/run-data";
import type { ColorMode, Rgba } from "../render/colors";

export type Theme = "light" | "dark";

export interface DrawSettings {
  method: string;
  dim: number;
  color: ColorMode;
  /** per token: 1 = search hit; null when no search is active */
  hits: Uint8Array | null;
  theme: Theme;
  labels: boolean;
  sizeByNorm: boolean;
}

export interface ThemeColors {
  background: Rgba;
  cell: Rgba;
  cellMissing: Rgba;
  text: Rgba;
  muted: Rgba;
  outline: Rgba;
  queryLabel: Rgba;
  keyLabel: Rgba;
  queryHit: Rgba;
  keyHit: Rgba;
}

export const THEMES: Record<Theme, ThemeColors> = {
  light: {
    background: [255, 255, 255, 255],
    cell: [244, 245, 247, 255],
    cellMissing: [236, 236, 236, 255],
    text: [40, 44, 52, 255],
    muted: [120, 126, 136, 255],
    outline: [255, 255, 255, 255],
    queryLabel: [38, 110, 50, 255],
    keyLabel: [168, 30, 100, 255],
    queryHit: [84, 148, 61, 255],
    keyHit: [193, 91, 125, 255],
  },
  dark: {
    background: [24, 26, 31, 255],
    cell: [34, 37, 44, 255],
    cellMissing: [44, 44, 48, 255],
    text: [225, 228, 234, 255],
    muted: [150, 156, 168, 255],
    outline: [24, 26, 31, 255],
    queryLabel: [157, 216, 135, 255],
    keyLabel: [234, 138, 170, 255],
    queryHit: [157, 216, 135, 255],
    keyHit: [234, 138, 170, 255],
  },
};

/** The row of layout row `row` in token terms: token index and whether it is the key copy. */
export function tokenOf(data: RunData, row: number): { token: number; isKey: boolean } {
  const n = data.n;
  return row >= n ? { token: row - n, isKey: true } : { token: row, isKey: false };
}
