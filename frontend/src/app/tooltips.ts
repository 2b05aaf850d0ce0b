// What the tooltips say: a Matrix cell (the head, whether it can be opened, whether its keys were
// left untranslated) and a Single View point (its token, query or key, its place in its sentence or
// image, the value the colouring shows, and the sentence around it).

import type { RunData } from "../data/run-data";
import type { ColorMode } from "../render/colors";
import type { Cell } from "../render/geometry";
import { tokenOf } from "../views/common";
import type { Tooltip } from "./state.svelte";

/** `extra`: lines the view adds (compare mode: the head's drift against the other run). */
export function cellTooltip(data: RunData, cell: Cell, key: string, x: number, y: number, extra: string[] = []): Tooltip {
  const has = data.has(cell.layer, cell.head, key);
  const lines = [...extra];
  if (data.details.untranslated.includes(cell.layer * data.heads + cell.head)) {
    lines.push("keys left untranslated: moving them onto the queries cost too much fidelity");
  }
  return {
    x,
    y,
    title: `L${cell.layer} H${cell.head}`,
    subtitle: has ? "click or zoom in to open" : `no ${key} layout yet`,
    lines: lines.length ? lines : undefined,
  };
}

/** `head`: the Single View's drawn rows (their order and, when loaded, their norms). */
export function pointTooltip(
  data: RunData,
  head: { norms: Float32Array | null },
  color: ColorMode,
  row: number,
  x: number,
  y: number,
): Tooltip {
  const { token, isKey } = tokenOf(data, row);
  const t = data.tokens;
  const seq = t.sequence[token];
  const kind = isKey ? "key" : "query";
  const lines: string[] = [];
  if (color === "norm" && head.norms) {
    const i = data.order.indexOf(row);
    if (i >= 0 && i < head.norms.length) lines.push(`norm ${head.norms[i].toFixed(2)}`);
  }
  if (data.details.kind === "image" && t.patchRow && t.patchCol) {
    const place = t.patchRow[token] < 0 ? "the image's [CLS]" : `patch row ${t.patchRow[token]}, column ${t.patchCol[token]}`;
    return { x, y, title: t.values[t.token[token]], subtitle: `${kind} · image ${seq}`, lines: [place, ...lines] };
  }
  lines.unshift(`position ${t.position[token]} of ${t.seqLen[token]}`);
  if (color === "frequency") lines.push(`frequency ${data.frequency[t.token[token]]}`);
  else if (color === "pos_mod_5") lines.push(`position mod 5: ${t.position[token] % 5}`);
  else if (color === "token_length") lines.push(`length ${[...t.values[t.token[token]]].length}`);
  else if (color === "seq_length") lines.push(`sequence length ${t.seqLen[token]}`);
  const text = data.sequences.text[seq] ?? "";
  const start = t.charStart[token];
  const end = t.charEnd[token];
  const context: [string, string, string] =
    start >= 0 && end >= start ? clip(text.slice(0, start), text.slice(start, end), text.slice(end)) : clip(text, "", "");
  return { x, y, title: t.values[t.token[token]], subtitle: `${kind} · sequence ${seq}`, lines, context };
}

function clip(before: string, token: string, after: string): [string, string, string] {
  const room = 110;
  const b = before.length > room ? `…${before.slice(-room)}` : before;
  const a = after.length > room ? `${after.slice(0, room)}…` : after;
  return [b, token, a];
}
