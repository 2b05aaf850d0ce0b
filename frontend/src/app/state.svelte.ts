// The app's reactive state: what the controls show and what the controller reads.

import type { RunDetails, RunSummary } from "../data/types";
import type { HeadDetails } from "../data/types";
import type { LegendSpec } from "../render/colors";
import { DEFAULTS, type UrlState } from "./url";

export interface Tooltip {
  x: number;
  y: number;
  title: string;
  subtitle?: string;
  lines?: string[];
  /** the sequence's text split around the token: [before, token, after] */
  context?: [string, string, string];
}

export interface SearchInfo {
  tokens: number;
  sequences: number;
  examples: string[];
  error: string;
}

export interface AppState extends UrlState {
  runs: RunSummary[];
  details: RunDetails | null;
  head: number;
  headInfo: HeadDetails | null;
  loading: { active: boolean; done: number; total: number; label: string };
  error: string;
  searchInfo: SearchInfo | null;
  tooltip: Tooltip | null;
  legend: LegendSpec | null;
  /** Matrix View level of detail: rows per cell, in all, and per cell in view once zoomed in (0: none) */
  lod: { perCell: number; points: number; inView: number } | null;
  rendered: boolean;
  /** the projection asked for while the app shows another that more heads have (see choices.ts) */
  waitingFor: string | null;
}

export const app: AppState = $state({
  ...DEFAULTS,
  runs: [],
  details: null,
  headInfo: null,
  loading: { active: false, done: 0, total: 0, label: "" },
  error: "",
  searchInfo: null,
  tooltip: null,
  legend: null,
  lod: null,
  rendered: false,
  waitingFor: null,
});
