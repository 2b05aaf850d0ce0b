"""The wheel a user installs: built without node, the web app inside, `--help` and `serve` working.

The fresh virtual environment gets the wheel alone (no editable source on its path); its
dependencies come from this environment's site-packages through a .pth line, so no package is
downloaded and no CUDA torch can be pulled.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.synthetic import make_synthetic_run

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build --sdist --wheel` with no node on PATH (the frontend must be built already)."""
    pytest.importorskip("hatchling")
    pytest.importorskip("build")
    from tests.e2e.conftest import _frontend_built

    if not _frontend_built():
        pytest.skip("the frontend is not built and npm is not available")
    out = tmp_path_factory.mktemp("dist")
    env = {"PATH": str(BIN), "HOME": str(out)}
    assert shutil.which("node", path=env["PATH"]) is None
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return out


def test_wheel_holds_the_built_web_app_and_sdist_the_sources(dist: Path) -> None:
    (wheel,) = dist.glob("attentionviz-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "attentionviz/hosts/static/index.html" in names
    assert any(re.fullmatch(r"attentionviz/hosts/static/assets/.+\.js", n) for n in names)
    # the notebook widget's and the single-file export's bundle
    assert {
        "attentionviz/hosts/static/embed/attentionviz.js",
        "attentionviz/hosts/static/embed/attentionviz.css",
    } <= set(names)
    assert "attentionviz/py.typed" in names
    assert not any(n.startswith("tests/") or "node_modules" in n for n in names)
    (sdist,) = dist.glob("attentionviz-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert {
        "hatch_build.py",
        "frontend/package.json",
        "frontend/package-lock.json",
        "frontend/vite.embed.config.ts",
        "pyproject.toml",
    } <= members
    assert not any(m.startswith((".hypothesis", "frontend/node_modules", "test-output")) for m in members)


def test_wheel_runs_in_a_fresh_venv_without_node(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("attentionviz-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")  # dependencies only
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path)}
    assert shutil.which("node", path=env["PATH"]) is None

    where = subprocess.run(
        [str(python), "-c", "import attentionviz; print(attentionviz.__file__)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(venv)), f"attentionviz was imported from {where}, not the wheel"

    helped = subprocess.run(
        [str(venv / "bin" / "attentionviz"), "--help"], env=env, capture_output=True, text=True
    )
    assert helped.returncode == 0, helped.stderr
    assert "demo" in helped.stdout and "serve" in helped.stdout

    run = make_synthetic_run(tmp_path / "run", layers=1, heads=2, tokens=50, layouts=(("pca", 2),), seed=1)
    server = subprocess.Popen(
        [str(venv / "bin" / "attentionviz"), "serve", str(run.path), "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        found = re.search(r"at (http://\S+)", first)
        assert found, first
        url = found.group(1)
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert '<div id="app"' in page and "/assets/" in page  # the built app, not the "build it" page
        runs = urllib.request.urlopen(url + "api/runs", timeout=10).read().decode()
        assert '"run"' in runs
    finally:
        server.terminate()
        server.wait(10)
