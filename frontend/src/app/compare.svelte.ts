// Compare mode's state: run B (the run compared with), how every head changed from the run shown to
// the run its drift is measured against (B, or the previous step of a training series while
// scrubbing through it), or, for runs of different models or corpora, which heads of B match each
// head (by fingerprint), and B's view of the selected sequence.

import { RunData } from "../data/run-data";
import { stepFrom } from "../data/series";
import type { Comparison, DataSource, HeadMatch, RunSummary } from "../data/types";
import type { Selection } from "./selection.svelte";

export interface CompareState {
  /** run B, shown beside the run in the Single View */
  other: RunData | null;
  /** the run the Matrix View's drift is against ("" when none) */
  against: string;
  comparison: Comparison | null;
  /** B's attention for the selected sequence (its Sentence View) */
  selection: Selection | null;
  /** why the runs cannot be compared, when they cannot */
  note: string;
}

export const comparing: CompareState = $state({ other: null, against: "", comparison: null, selection: null, note: "" });

/** The run the drift is measured against: B in compare mode, else the previous step of a series while scrubbing it. */
export function driftAgainst(runs: RunSummary[], run: string, compare: string, scrub: string): string {
  if (compare && compare !== run) return compare;
  return scrub === "steps" ? (stepFrom(runs, run, -1)?.id ?? "") : "";
}

/** Load B and the comparison the state asks for (nothing when they are loaded already). */
export async function syncComparison(source: DataSource, runs: RunSummary[], run: string, compare: string, scrub: string): Promise<void> {
  const other = compare && compare !== run && runs.some((r) => r.id === compare) ? compare : "";
  if (comparing.other?.id !== (other || undefined)) {
    comparing.other = other ? await RunData.load(source, other) : null;
    comparing.selection = null;
  }
  const against = driftAgainst(runs, run, other, scrub);
  if (against === comparing.against && (comparing.comparison?.run ?? "") === (against ? run : "")) return;
  comparing.against = against;
  comparing.comparison = null;
  comparing.note = "";
  if (!against) return;
  try {
    comparing.comparison = await source.comparison(run, against);
  } catch (error) {
    comparing.note = (error as Error).message;
  }
}

/** Head (layer, head)'s drift against the run compared with, or null. */
export function driftOf(layer: number, head: number): number | null {
  const found = comparing.comparison?.heads.find((h) => h.layer === layer && h.head === head);
  return found?.drift ?? null;
}

/** The largest drift of any head (the top of the colour scale). */
export function maxDrift(): number {
  return Math.max(0, ...(comparing.comparison?.heads.map((h) => h.drift ?? 0) ?? []));
}

/** Runs of different models or corpora: B's heads nearest head (layer, head) by fingerprint, nearest first. */
export function matchesOf(layer: number, head: number): HeadMatch[] {
  const comparison = comparing.comparison;
  if (comparison?.kind !== "match") return [];
  return comparison.heads.find((h) => h.layer === layer && h.head === head)?.matches ?? [];
}

/** Runs of different models or corpora: the `n` heads best matched (smallest distance to their nearest head of B). */
export function bestMatched(n: number): { layer: number; head: number; match: HeadMatch }[] {
  const comparison = comparing.comparison;
  if (comparison?.kind !== "match") return [];
  return comparison.heads
    .filter((h) => h.matches.length > 0)
    .map((h) => ({ layer: h.layer, head: h.head, match: h.matches[0] }))
    .sort((a, b) => a.match.distance - b.match.distance)
    .slice(0, n);
}
