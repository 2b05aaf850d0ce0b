import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vitest/config";

// The build lands inside the Python package; relative asset paths let the same files work
// behind the server, inside the notebook widget and in a static export.
export default defineConfig({
  base: "./",
  plugins: [svelte()],
  build: {
    outDir: "../src/attentionviz/hosts/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    sourcemap: false,
  },
  server: {
    proxy: { "/api": process.env.ATTENTIONVIZ_API ?? "http://127.0.0.1:8000" },
  },
  test: {
    include: ["src/**/*.test.ts"],
  },
});
