// Every notebook widget loads its own copy of the embedded bundle (anywidget imports each model's
// module anew), and each copy carries its own luma.gl, which registers itself as `globalThis.luma`
// and logs "This version of luma.gl has already been initialized" when another copy is there. The
// copies share nothing through that name (each draws with its own module), so the newest copy takes
// it quietly. Imported first by hosts/embed.ts, so it runs before luma.gl's module does.

delete (globalThis as { luma?: unknown }).luma;
