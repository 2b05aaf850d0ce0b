"""The habits CI holds the code to, run as tests so that the README's one test command runs them:
lint and format (ruff), types (mypy --strict, svelte-check), the layer contracts (import-linter),
and the frontend's unit tests (vitest). The generated TypeScript is checked in test_contract.py,
the wheel's contents in tests/integration/test_packaging.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
BIN = Path(sys.executable).parent

PYTHON_GATES = {
    "ruff check": [str(BIN / "ruff"), "check", "src", "tests", "benchmarks", "docs"],
    "ruff format": [str(BIN / "ruff"), "format", "--check", "src", "tests", "benchmarks", "docs"],
    "mypy --strict": [str(BIN / "mypy")],
    "import-linter": [str(BIN / "lint-imports"), "--no-cache"],
}
FRONTEND_GATES = {
    "svelte-check": ["run", "check"],
    "vitest": ["test"],
}


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"`{' '.join(command)}` failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )


@pytest.mark.parametrize("gate", sorted(PYTHON_GATES))
def test_python_gate(gate: str) -> None:
    _run(PYTHON_GATES[gate], ROOT)


@pytest.mark.parametrize("gate", sorted(FRONTEND_GATES))
def test_frontend_gate(gate: str) -> None:
    npm = shutil.which("npm")
    if npm is None or not (FRONTEND / "node_modules").is_dir():
        pytest.skip("the frontend's dependencies are not installed (pip install -e . runs npm ci)")
    _run([npm, *FRONTEND_GATES[gate]], FRONTEND)
