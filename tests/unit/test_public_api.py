"""The public surface: `attentionviz.__all__` and its signatures (golden file), and a light `--help`.

After an intended API change, regenerate the golden file and review its diff:

    python -m tests.unit.test_public_api
"""

from __future__ import annotations

import functools
import inspect
import subprocess
import sys
from pathlib import Path

import attentionviz

GOLDEN = Path(__file__).with_name("public_api.txt")
HEAVY = ("torch", "transformers", "sklearn", "umap", "pyarrow", "pandas", "scipy", "fastapi", "uvicorn")


def describe_api() -> str:
    """One line per public name: functions and classes with their signatures, and public members."""
    lines = []
    for name in sorted(attentionviz.__all__):
        try:
            obj = getattr(attentionviz, name)
        except (ImportError, AttributeError) as exc:
            lines.append(f"{name}: unavailable ({type(exc).__name__})")
            continue
        if name == "__version__":
            lines.append("__version__: str")
        elif inspect.isclass(obj):
            lines.append(f"class {name}{_signature(obj)}")
            members = {}  # what the class and its attentionviz bases define, the nearest first
            for cls in reversed(obj.__mro__):
                if cls.__module__.startswith("attentionviz"):
                    members.update(vars(cls))
            for member, value in sorted(members.items()):
                if member.startswith("_"):
                    continue
                if isinstance(value, property | functools.cached_property):
                    lines.append(f"    {name}.{member}: property")
                elif callable(value) or isinstance(value, staticmethod | classmethod):
                    lines.append(f"    {name}.{member}{_signature(getattr(obj, member))}")
        else:
            lines.append(f"def {name}{_signature(obj)}")
    return "\n".join(lines) + "\n"


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(...)"


def test_public_api_matches_the_golden_file() -> None:
    """In a fresh interpreter: the API as `import attentionviz` gives it, whatever ran before."""
    code = "from tests.unit.test_public_api import describe_api; print(describe_api(), end='')"
    root = Path(__file__).resolve().parents[2]
    fresh = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert fresh.stdout == GOLDEN.read_text(), (
        "the public API changed; if intended, run `python -m tests.unit.test_public_api` and commit the diff"
    )


def test_help_imports_no_heavy_library() -> None:
    """`attentionviz --help` (and each command's) must stay instant: no torch, pandas, ... imported."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from attentionviz.cli import main\n"
        "runner = CliRunner()\n"
        "assert runner.invoke(main, ['--help']).exit_code == 0\n"
        "for command in main.commands:\n"
        "    assert runner.invoke(main, [command, '--help']).exit_code == 0, command\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"--help imported {result.stdout.strip()}"


if __name__ == "__main__":
    GOLDEN.write_text(describe_api())
    print(f"wrote {GOLDEN}")
