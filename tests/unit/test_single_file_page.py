"""`export --single-file` without a browser: the page holds exactly the folder export's api/ files,
refuses what is too big, and never lets data end its script tag. (In Chromium: tests/e2e/test_single_file.py.)"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from attentionviz.errors import AttentionVizError
from attentionviz.hosts.export.folder import export_site
from attentionviz.hosts.export.single_file import embed_bundle, export_single_file
from tests.support.synthetic import make_synthetic_run

try:
    embed_bundle()
except AttentionVizError:
    pytest.skip("the embedded bundle is not built (npm run build in frontend/)", allow_module_level=True)


@pytest.fixture(scope="module")
def run_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("single") / "tiny<b>"
    make_synthetic_run(path, layers=2, heads=2, tokens=50, layouts=(("pca", 2),), seed=5)
    return path


def embedded_files(html: str) -> dict[str, bytes]:
    match = re.search(r'<script type="application/json" id="attentionviz-files">(.*?)</script>', html, re.S)
    assert match is not None
    return {path: base64.b64decode(data) for path, data in json.loads(match.group(1)).items()}


def test_the_page_holds_the_folder_exports_api_files(run_path: Path, tmp_path: Path) -> None:
    summary = export_single_file(run_path, tmp_path / "run.html", layers=[1])
    html = summary.path.read_text(encoding="utf-8")
    site = export_site(run_path, tmp_path / "site", layers=[1]).site
    expected = {
        p.relative_to(site).as_posix(): p.read_bytes() for p in (site / "api").rglob("*") if p.is_file()
    }
    assert embedded_files(html) == expected
    assert summary.heads == 2 and summary.data_bytes == sum(len(b) for b in expected.values())
    assert "<title>attentionviz: tiny&lt;b&gt;</title>" in html
    # every script's content ends where its tag says: no "</" inside data or bundle
    for body in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S):
        assert "</" not in body


def test_refusals_are_one_line_and_leave_no_file(run_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "big.html"
    with pytest.raises(AttentionVizError, match="--layers/--heads") as caught:
        export_single_file(run_path, target, limit=2_000)
    assert "\n" not in str(caught.value)
    assert not target.exists()
    target.write_text("keep me")
    with pytest.raises(AttentionVizError, match="--overwrite"):
        export_single_file(run_path, target)
    assert target.read_text() == "keep me"
    with pytest.raises(AttentionVizError, match="is a folder"):
        export_single_file(run_path, tmp_path, overwrite=True)
