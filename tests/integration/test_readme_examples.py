"""The README's Python examples run exactly as written, the ways a user runs them: as a script
file without a `__main__` guard, piped to `python -`, and the Python API from IPython.

Each example is read from README.md itself (its ```python blocks, run in order in one folder), so
the README cannot drift from what runs. What an example reads and no earlier one wrote is put
there first: a small corpus for each `.txt` it names, and for each run folder it opens a copy of
the run an earlier example built. The layout workers must never re-run the user's main module (issue 14.1: a
script crashed with "bootstrapping phase" errors, standard input with `FileNotFoundError:
'<stdin>'`, both ending in `BrokenProcessPool`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SENTENCES
from tests.support.synthetic import make_synthetic_run

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def readme_python() -> list[str]:
    """Every ```python block of README.md, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks, "README.md has no ```python block"
    return list(blocks)


def files_it_names(folder: Path, program: str) -> None:
    """Write what `program` reads and does not make: each corpus (`*.txt`) it names, and each run
    folder (`runs/NAME`) it names but does not build (`out=`), as a copy of a run built before."""
    for name in set(re.findall(r'"([\w-]+\.txt)"', program)):
        (folder / name).write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    built = set(re.findall(r'out="(runs/[\w-]+)"', program))
    for name in set(re.findall(r'"(runs/[\w-]+)"', program)) - built:
        if not (folder / name).exists():
            [first, *_] = sorted(path.parent for path in folder.glob("runs/*/manifest.json"))
            shutil.copytree(first, folder / name)


def run_python(
    args: list[str], folder: Path, *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, *args],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.mark.parametrize("how", ["script", "stdin"])
def test_the_readme_python_examples_run_as_written(how: str, tmp_path: Path) -> None:
    for i, program in enumerate(readme_python()):
        files_it_names(tmp_path, program)
        if how == "script":
            (tmp_path / f"example{i}.py").write_text(program, encoding="utf-8")
            done = run_python([f"example{i}.py"], tmp_path)
        else:
            done = run_python(["-"], tmp_path, stdin=program)
        assert done.returncode == 0, f"README example {i + 1}:\n{program}\n{done.stderr[-3000:]}"
        assert "bootstrapping" not in done.stderr and "BrokenProcessPool" not in done.stderr
    run_dirs = [path.parent for path in tmp_path.glob("runs/*/manifest.json")]
    assert run_dirs, "the examples built no run"
    import attentionviz as av

    head = av.open(run_dirs[0]).head(2, 3)
    assert {("tsne", 2), ("umap", 2), ("pca", 2)} <= set(head.layouts())


IPYTHON = """
import attentionviz as av
run = av.open({run!r}).embed(layouts=("umap",), dims=(2,), workers=2)
print("heads with umap:", sum(("umap", 2) in h.layouts() for h in run.heads()))
"""


def test_the_api_runs_its_worker_processes_from_ipython(tmp_path: Path) -> None:
    pytest.importorskip("IPython")
    run = make_synthetic_run(tmp_path / "run", layers=1, heads=3, tokens=150, layouts=(), metrics=False)
    done = run_python(
        ["-m", "IPython", "--quick", "--no-banner", "--colors=nocolor"],
        tmp_path,
        stdin=IPYTHON.format(run=str(run.path)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "heads with umap: 3" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
