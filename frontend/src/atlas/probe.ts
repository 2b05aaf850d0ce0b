// A head's attention on a probe sequence (BOS, ~50 random tokens, the same tokens again), shown in
// the Sentence View like a selected sentence. Probes are not in the run's layouts, so a probe
// selection has no scatterplot row (`row` -1) and draws no lines there.

import type { Selection } from "../app/selection.svelte";
import type { RunData } from "../data/run-data";

export const PROBE_ROW = -1;

export function isProbe(sel: Selection | null): boolean {
  return sel !== null && sel.row === PROBE_ROW;
}

/** Probe sequence `seq` of the run as a selection of head (layer, head). */
export async function loadProbeSelection(data: RunData, layer: number, head: number, seq = 0): Promise<Selection> {
  const probe = await data.source.probe(data.id, layer, head, seq);
  return {
    run: data.id,
    layer,
    head,
    sequence: seq,
    tokenStart: PROBE_ROW,
    n: probe.tokens.length,
    row: PROBE_ROW,
    total: data.n,
    tokens: probe.tokens,
    special: probe.special,
    attention: probe.attention, // every row: probes are short
    rows: null,
    aggregate: null,
    aggregateN: 0,
    valueNorms: probe.valueNorms,
    image: null,
  };
}
