// Calls back with the selected point whenever the selection changes (for hosts that report it).

import { selection, type Selection } from "../app/selection.svelte";

/** Run `listener` now and after each change of the selection; returns the function that stops it. */
export function watchSelection(listener: (current: Selection | null) => void): () => void {
  return $effect.root(() => {
    $effect(() => {
      void selection.version;
      listener(selection.current);
    });
  });
}
