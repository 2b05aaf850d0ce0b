// The colour of a head's drift (how much it changed between two runs) on the Matrix View's cells:
// a sequential scale from pale yellow (unchanged) to dark red (the most changed head shown).

const YLORRD = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"];

export const DRIFT_GRADIENT = `linear-gradient(to right, ${YLORRD.join(", ")})`;

/** CSS colour of `value` on a scale from 0 to `max` (values past `max` take the darkest). */
export function driftColor(value: number, max: number): string {
  const f = max > 0 ? Math.min(1, Math.max(0, value / max)) : 0;
  const x = f * (YLORRD.length - 1);
  const i = Math.min(YLORRD.length - 2, Math.floor(x));
  const [a, b] = [hex(YLORRD[i]), hex(YLORRD[i + 1])];
  const t = x - i;
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * t)).join(", ")})`;
}

function hex(color: string): number[] {
  return [1, 3, 5].map((i) => Number.parseInt(color.slice(i, i + 2), 16));
}
