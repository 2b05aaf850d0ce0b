"""Bad input to `attentionviz build` / `info` gets a one-line error and exit code 2, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from attentionviz.cli import main


def t5_folder(tmp: Path) -> str:
    from transformers import T5Config

    T5Config(d_model=16, num_layers=1, num_heads=2, d_kv=8, d_ff=16).save_pretrained(tmp / "t5")
    return str(tmp / "t5")


def write(tmp: Path, name: str, data: bytes) -> str:
    (tmp / name).write_bytes(data)
    return str(tmp / name)


CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "unknown model": (
        lambda t: ["build", "no-such/model", write(t, "a.txt", b"Hi there."), "-o", str(t / "r")],
        "not found",
    ),
    "folder that is not a model": (
        lambda t: ["build", str(t), write(t, "a.txt", b"Hi."), "-o", str(t / "r")],
        "config.json",
    ),
    "unsupported architecture": (
        lambda t: ["build", t5_folder(t), write(t, "a.txt", b"Hi."), "-o", str(t / "r")],
        "architectures.py",
    ),
    "missing corpus": (
        lambda t: ["build", "minilm", str(t / "none.txt"), "-o", str(t / "r")],
        "does not exist",
    ),
    "empty corpus": (lambda t: ["build", "minilm", write(t, "e.txt", b""), "-o", str(t / "r")], "empty"),
    "whitespace corpus": (
        lambda t: ["build", "minilm", write(t, "w.txt", b" \n\t\n \r\n"), "-o", str(t / "r")],
        "no text",
    ),
    "binary corpus": (
        lambda t: ["build", "minilm", write(t, "b.txt", bytes(range(256)) * 4), "-o", str(t / "r")],
        "binary",
    ),
    "missing text column": (
        lambda t: ["build", "minilm", write(t, "c.jsonl", b'{"body": "hello"}\n'), "-o", str(t / "r")],
        "--text-column",
    ),
    "image corpus for a text model": (
        lambda t: ["build", "minilm", str(image_dir(t)), "-o", str(t / "r")],
        "image",
    ),
    "info on a folder that is not a run": (lambda t: ["info", str(t)], "not an attentionviz run"),
    "bad device": (
        lambda t: ["build", "minilm", write(t, "a.txt", b"Hi."), "-o", str(t / "r"), "--device", "tpu"],
        "tpu",
    ),
}


def image_dir(tmp: Path) -> Path:
    from PIL import Image

    folder = tmp / "imgs"
    folder.mkdir()
    Image.new("RGB", (8, 8), "red").save(folder / "red.png")
    return folder


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_one_line_error(case: str, tmp_path: Path) -> None:
    make_args, expected = CASES[case]
    args = make_args(tmp_path)
    result = CliRunner().invoke(main, [*args, "--quiet"] if args[0] == "build" else args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert expected in lines[0]


def test_a_run_folder_of_another_model_is_refused_and_left_intact(tmp_path: Path) -> None:
    corpus = write(tmp_path, "a.txt", b"The cat sat. The dog ran.")
    out = str(tmp_path / "run")
    first = CliRunner().invoke(main, ["build", "minilm", corpus, "-o", out, "--layouts", "none", "--quiet"])
    assert first.exit_code == 0, first.output
    manifest = (tmp_path / "run" / "manifest.json").read_bytes()
    second = CliRunner().invoke(
        main, ["build", "minilm", corpus, "-o", out, "--layouts", "none", "--quiet", "--seed", "7"]
    )
    assert second.exit_code == 2
    assert "already holds a run" in second.output
    assert (tmp_path / "run" / "manifest.json").read_bytes() == manifest
    again = CliRunner().invoke(main, ["build", "minilm", corpus, "-o", out, "--layouts", "none", "--quiet"])
    assert again.exit_code == 0, "the same command on a finished run reuses it"
