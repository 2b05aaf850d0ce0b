// The app's keyboard shortcuts: the table the help panel shows and what a key does where.
// shortcuts.test.ts checks the mapping.

export const SHORTCUTS: readonly [keys: string, what: string][] = [
  ["?", "open or close this help"],
  ["/", "search tokens"],
  ["← →", "previous / next head (Single View)"],
  ["↑ ↓", "previous / next layer (Single View)"],
  ["[ ]", "previous / next frame while scrubbing"],
  ["Esc", "close the help; clear the selection; back to every head"],
];

export type KeyAction =
  | { kind: "step"; layers: number; heads: number }
  | { kind: "help" | "search" | "close-help" | "clear-selection" | "all-heads" };

const STEPS: Record<string, [number, number]> = {
  ArrowUp: [-1, 0],
  ArrowDown: [1, 0],
  ArrowLeft: [0, -1],
  ArrowRight: [0, 1],
};

/** What `key` does (null: nothing) in the app's current state. */
export function keyAction(key: string, state: { single: boolean; help: boolean; selected: boolean }): KeyAction | null {
  if (key === "?") return { kind: "help" };
  if (key === "Escape") {
    if (state.help) return { kind: "close-help" };
    if (state.selected) return { kind: "clear-selection" };
    return state.single ? { kind: "all-heads" } : null;
  }
  if (state.help) return null;
  if (key === "/") return { kind: "search" };
  const step = STEPS[key];
  return step && state.single ? { kind: "step", layers: step[0], heads: step[1] } : null;
}
