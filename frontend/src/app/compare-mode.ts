// Compare mode's part of the controller: which Single View a head opens as (alone, beside run B's
// same head, laid over it when they share a corpus, or beside B's best matched head), B's side of a
// selection, the Matrix View's drift tint and the drift lines of a cell's tooltip.

import type { RunData } from "../data/run-data";
import type { DataSource } from "../data/types";
import type { Cell } from "../render/geometry";
import { CompareView } from "../views/compare";
import { driftColor } from "../views/drift";
import { SingleView } from "../views/single";
import { comparing, driftOf, matchesOf, maxDrift, syncComparison } from "./compare.svelte";
import { loadSelection, selection } from "./selection.svelte";
import { app } from "./state.svelte";

/** The Single View of the head shown: alone, or beside run B's (laid over it when they share a
 * corpus), or, for runs of different models or corpora, beside B's head that matches it best. */
export async function headView(source: DataSource, data: RunData, key: string): Promise<SingleView> {
  const other = comparing.other;
  if (!other) return new SingleView(data, app.layer, app.head, key);
  const match = matchesOf(app.layer, app.head)[0];
  if (match) return new CompareView(data, app.layer, app.head, key, { data: other, layer: match.layer, head: match.head, transform: null });
  const found = comparing.comparison?.heads.some((h) => h.layer === app.layer && h.head === app.head);
  let transform = null;
  if (found && other.has(app.layer, app.head, key)) {
    const alignments = await source.compareAlignments(data.id, other.id, key).catch(() => null);
    transform = alignments?.heads.find((h) => h.layer === app.layer && h.head === app.head)?.other ?? null;
  }
  return new CompareView(data, app.layer, app.head, key, { data: other, layer: app.layer, head: app.head, transform });
}

/** Load B's attention for the selected sequence (compare mode, when the runs hold the same tokens). */
export async function syncOtherSelection(single: SingleView): Promise<void> {
  const sel = selection.current;
  const other = single instanceof CompareView && single.linked ? single.other : null;
  const have = comparing.selection;
  if (!other || !sel) comparing.selection = null;
  else if (!have || have.layer !== other.layer || have.head !== other.head || have.row !== sel.row || have.run !== other.data.id) {
    comparing.selection = await loadSelection(other.data, other.layer, other.head, sel.row);
  }
}

/** Fetch the comparison the app's state asks for; a failure is shown as the compare panel's note. */
export async function syncCompare(source: DataSource): Promise<void> {
  try {
    await syncComparison(source, app.runs, app.run, app.compare, app.scrub);
  } catch (error) {
    comparing.note = (error as Error).message;
  }
}

/** Matrix cells coloured by drift, while there is a run to measure it against. */
export function driftTint(): ((layer: number, head: number) => string | null) | null {
  if (!comparing.comparison) return null;
  const max = maxDrift();
  return (layer, head) => {
    const drift = driftOf(layer, head);
    return drift === null ? null : driftColor(drift, max);
  };
}

/** Compare mode: how much the head under the pointer changed against the other run, or its best match there. */
export function driftLines(cell: Cell): string[] {
  const match = matchesOf(cell.layer, cell.head)[0];
  if (match) return [`nearest head of ${comparing.against}: L${match.layer} H${match.head} (distance ${match.distance.toFixed(3)})`];
  const drift = comparing.comparison?.heads.find((h) => h.layer === cell.layer && h.head === cell.head);
  return drift ? [`drift ${fixed(drift.drift)} against ${comparing.against}`, `attention ${fixed(drift.attention)} · fingerprint ${fixed(drift.fingerprint)} · layout ${fixed(drift.layout)}`] : [];
}

function fixed(value: number | null): string {
  return value === null ? "–" : value.toFixed(3);
}
