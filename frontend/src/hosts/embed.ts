// The embedded bundle's entry (built by vite.embed.config.ts as one ES module with no imports, so
// it loads from a blob URL): the notebook widget (anywidget's `export default { render }`,
// hosts/widget.ts) and the single-file export (`mountFiles`, hosts/file.ts).

import "./luma-once"; // first: before luma.gl's own module runs
import { render } from "./widget";

export { mountFiles } from "./file";
export default { render };
