"""Hatch build hook: build the web frontend into the package while a wheel is built.

Runs `npm ci` (when `frontend/node_modules` is missing or older than the lock file) and
`npm run build`, which writes `src/attentionviz/hosts/static/` (gitignored, shipped as a wheel
artifact). Without node the hook keeps an existing build and otherwise warns: the server then
answers with a page that says how to build the frontend. Set ATTENTIONVIZ_SKIP_FRONTEND=1 to skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class FrontendBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        frontend = root / "frontend"
        built = root / "src" / "attentionviz" / "hosts" / "static" / "index.html"
        npm = shutil.which("npm")
        if os.environ.get("ATTENTIONVIZ_SKIP_FRONTEND") or not (frontend / "package.json").exists():
            self.app.display_info("attentionviz: skipping the frontend build")
            return
        if npm is None:
            if built.exists():
                self.app.display_info("attentionviz: node is not installed; using the frontend already built")
            else:
                self.app.display_warning(
                    "attentionviz: node/npm not found and no built frontend; the web app will be missing. "
                    "Install Node.js 20+ and reinstall, or run `npm ci && npm run build` in frontend/."
                )
            return
        modules = frontend / "node_modules"
        lock = frontend / "package-lock.json"
        if not modules.exists() or (lock.exists() and lock.stat().st_mtime > modules.stat().st_mtime):
            self._run([npm, "ci", "--no-audit", "--no-fund"], frontend)
        self._run([npm, "run", "build"], frontend)
        embedded = built.parent / "embed" / "attentionviz.js"  # the notebook widget's bundle
        for output in (built, embedded):
            if not output.exists():
                raise RuntimeError(f"the frontend build did not produce {output}")

    def _run(self, command: list[str], cwd: Path) -> None:
        self.app.display_info(f"attentionviz: npm {' '.join(command[1:])} (in {cwd.name}/)")
        try:
            subprocess.run(command, cwd=cwd, check=True)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"`{' '.join(command)}` failed in {cwd} (exit {exc.returncode})") from exc
