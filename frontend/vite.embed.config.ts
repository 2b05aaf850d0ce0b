import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

// The embedded host (src/hosts/embed.ts) as one self-contained ES module and one stylesheet, for the
// notebook widget (anywidget's _esm/_css) and the single-file export. Runs after the page build
// (vite.config.ts), into a subfolder of its output.
export default defineConfig({
  plugins: [svelte()],
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  build: {
    outDir: "../src/attentionviz/hosts/static/embed",
    emptyOutDir: true,
    chunkSizeWarningLimit: 4000,
    sourcemap: false,
    lib: {
      entry: "src/hosts/embed.ts",
      formats: ["es"],
      fileName: () => "attentionviz.js",
      cssFileName: "attentionviz",
    },
    rollupOptions: { output: { inlineDynamicImports: true } },
  },
});
