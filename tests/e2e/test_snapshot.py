"""`attentionviz snapshot`: a PNG of one head or of the Matrix View, at a chosen resolution.

Run as a command (a subprocess): Playwright's sync API cannot start inside the session's browser.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.browser


def snapshot(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "attentionviz", "snapshot", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_snapshot_of_one_head_scales_with_the_resolution(
    browser: Any, minilm_run: Path, tmp_path: Path
) -> None:
    from PIL import Image

    sizes = []
    for scale in ("1", "2"):
        out = tmp_path / f"head-{scale}.png"
        args = ["snapshot", str(minilm_run), "--layer", "1", "--head", "2", "-o", str(out), "--scale", scale]
        result = snapshot(*args[1:], "--projection", "pca", "--width", "640", "--height", "480")
        assert result.returncode == 0, result.stderr
        image = Image.open(out).convert("RGB")
        pixels = np.asarray(image, dtype=np.int16)  # [h, w, 3]
        background = np.median(pixels.reshape(-1, 3), axis=0)
        assert (
            int((np.abs(pixels - background).max(axis=2) > 40).sum()) > 300 * int(scale) ** 2
        )  # points drawn
        sizes.append(image.size)
    assert sizes[1] == (2 * sizes[0][0], 2 * sizes[0][1])


def test_snapshot_of_the_matrix_view_and_a_bad_head(browser: Any, minilm_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "matrix.png"
    result = snapshot(str(minilm_run), "-o", str(out), "--scale", "1")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1000
    result = snapshot(str(minilm_run), "-o", str(out), "--layer", "1")
    assert result.returncode != 0 and "--head" in result.stderr
    result = snapshot(str(minilm_run), "-o", str(out), "--layer", "99", "--head", "0")
    assert result.returncode != 0 and "99" in result.stderr
