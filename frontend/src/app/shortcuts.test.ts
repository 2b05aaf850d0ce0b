import { describe, expect, it } from "vitest";
import { keyAction, SHORTCUTS } from "./shortcuts";

const state = { single: false, help: false, selected: false };

describe("keyboard shortcuts", () => {
  it("step through heads and layers in the Single View only", () => {
    expect(keyAction("ArrowRight", { ...state, single: true })).toEqual({ kind: "step", layers: 0, heads: 1 });
    expect(keyAction("ArrowUp", { ...state, single: true })).toEqual({ kind: "step", layers: -1, heads: 0 });
    expect(keyAction("ArrowRight", state)).toBeNull();
  });

  it("Escape closes the help first, then the selection, then the head", () => {
    expect(keyAction("Escape", { single: true, help: true, selected: true })).toEqual({ kind: "close-help" });
    expect(keyAction("Escape", { single: true, help: false, selected: true })).toEqual({ kind: "clear-selection" });
    expect(keyAction("Escape", { single: true, help: false, selected: false })).toEqual({ kind: "all-heads" });
    expect(keyAction("Escape", state)).toBeNull();
  });

  it("? toggles the help, / searches; nothing else acts while the help is open", () => {
    expect(keyAction("?", state)).toEqual({ kind: "help" });
    expect(keyAction("?", { ...state, help: true })).toEqual({ kind: "help" });
    expect(keyAction("/", state)).toEqual({ kind: "search" });
    expect(keyAction("/", { ...state, help: true })).toBeNull();
    expect(keyAction("ArrowLeft", { ...state, single: true, help: true })).toBeNull();
  });

  it("the help lists every key the app answers", () => {
    const listed = SHORTCUTS.map(([keys]) => keys).join(" ");
    for (const key of ["?", "/", "←", "→", "↑", "↓", "Esc"]) expect(listed).toContain(key);
  });
});
