"""Bad input through every entry point: a one-line error that says what to do, never a traceback.

Extends tests/integration/test_cli_errors.py (which it does not repeat): the CLI over broken corpora,
models, options and run folders; the Python API over out-of-range requests and damaged runs; the
server over the same (4xx with a JSON message, never 500); and odd but valid text (BOM, CRLF,
right-to-left, combining marks, emoji, a line longer than the model's context) that must be
captured whole. A finished run pointed at by a failing command stays byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import attentionviz as av
from attentionviz.cli import main
from tests.support.synthetic import make_synthetic_run

NOISE = ("Loading weights",)  # transformers' own bar, printed in-process before `main` can silence it


def write(folder: Path, name: str, data: bytes) -> str:
    (folder / name).write_bytes(data)
    return str(folder / name)


def text(folder: Path, name: str = "a.txt") -> str:
    return write(folder, name, b"The cat sat on the mat. The dog ran home.\n")


def parquet(folder: Path, name: str, frame: pd.DataFrame) -> str:
    frame.to_parquet(folder / name, index=False)
    return str(folder / name)


def images(folder: Path, spoil: Callable[[Path], None]) -> str:
    from PIL import Image

    out = folder / "imgs"
    out.mkdir()
    for index in range(2):
        Image.new("L", (8, 8), 40 * index).save(out / f"{index}.png")
    spoil(out)
    return str(out)


def truncated_png(folder: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / "big.png")
    data = (folder / "big.png").read_bytes()
    (folder / "big.png").write_bytes(data[: len(data) // 2])


def huge_sparse(folder: Path) -> str:
    """A 1 GiB file that occupies no disk: all NUL bytes."""
    path = folder / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(1 << 30)
    return str(path)


def model_folder(folder: Path, what: str) -> str:
    out = folder / f"model-{what}"
    out.mkdir()
    if what == "broken-config":
        (out / "config.json").write_text("{not json")
    else:
        from transformers import BertConfig

        BertConfig(
            hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
        ).save_pretrained(out)
    return str(out)


def synthetic(folder: Path, change: Callable[[Path], None] = lambda run: None) -> str:
    out = folder / "run"
    make_synthetic_run(out, layers=1, heads=2, tokens=30, layouts=())
    change(out)
    return str(out)


def edit_manifest(run: Path, **fields: Any) -> None:
    path = run / "manifest.json"
    data = json.loads(path.read_text())
    data.update(fields)
    path.write_text(json.dumps(data))


def build(corpus: str, tmp: Path, *extra: str, model: str = "minilm") -> list[str]:
    return ["build", model, corpus, "-o", str(tmp / "out"), "--layouts", "none", "--quiet", *extra]


# name -> (arguments, given a fresh temporary folder; a phrase the error must contain)
CLI_CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    # text files
    "invalid UTF-8": (lambda t: build(write(t, "u.txt", b"Caf\xe9 au lait.\n"), t), "not valid UTF-8"),
    "NUL byte after text": (
        lambda t: build(write(t, "n.txt", b"Hello there.\n" * 50 + b"\x00tail\n"), t),
        "NUL byte",
    ),
    "UTF-16 text": (lambda t: build(write(t, "w.txt", "Hello there.".encode("utf-16")), t), "UTF-16"),
    "huge binary file (1 GiB sparse)": (lambda t: build(huge_sparse(t), t), "not text"),
    "corpus is a device": (lambda t: build("/dev/null", t), "/dev/null"),
    "unknown --format": (lambda t: build(text(t), t, "--format", "docx"), "unknown corpus format"),
    "--text-column on plain text": (lambda t: build(text(t), t, "--text-column", "body"), "--text-column"),
    # tables
    "JSONL line that is not JSON": (
        lambda t: build(write(t, "b.jsonl", b'{"text": "hi"}\n{oops\n'), t),
        "b.jsonl:2",
    ),
    "JSONL text that is a number": (lambda t: build(write(t, "i.jsonl", b'{"text": 5}\n'), t), "not text"),
    "JSONL line that is a list": (lambda t: build(write(t, "l.jsonl", b"[1, 2]\n"), t), "not an object"),
    "CSV without the named column": (
        lambda t: build(write(t, "c.csv", b"a,b\nx,y\n"), t, "--text-column", "text"),
        "no column 'text'",
    ),
    "Parquet text column of ints": (
        lambda t: build(parquet(t, "i.parquet", pd.DataFrame({"text": [1, 2]})), t),
        "holds int64",
    ),
    "Parquet without a text column": (
        lambda t: build(parquet(t, "w.parquet", pd.DataFrame({"body": ["a b"]})), t),
        "--text-column",
    ),
    "Parquet that is garbage": (
        lambda t: build(write(t, "g.parquet", b"PAR1" + bytes(64) + b"PAR1"), t),
        "not a readable Parquet",
    ),
    # images
    "folder with no images": (
        lambda t: build(str((t / "empty").mkdir() or t / "empty"), t),
        "holds no images",
    ),
    # models
    "model folder with a broken config.json": (
        lambda t: build(text(t), t, model=model_folder(t, "broken-config")),
        "cannot read",
    ),
    "model folder without weights": (
        lambda t: build(text(t), t, model=model_folder(t, "no-weights")),
        "weights",
    ),
    "GGUF file that is garbage": (
        lambda t: build(text(t), t, model=write(t, "m.gguf", b"GGUF\x03\x00")),
        "GGUF",
    ),
    # options
    "--out is a file": (
        lambda t: ["build", "minilm", text(t), "-o", text(t, "f"), "--quiet"],
        "choose a folder",
    ),
    "--max-tokens negative": (lambda t: build(text(t), t, "--max-tokens", "-5"), "--max-tokens"),
    "--max-length 0": (lambda t: build(text(t), t, "--max-length", "0"), "--max-length"),
    "--max-length shorter than the special tokens": (
        lambda t: build(text(t), t, "--max-length", "2"),
        "at least",
    ),
    "--max-sequences 0": (lambda t: build(text(t), t, "--max-sequences", "0"), "--max-sequences"),
    "--batch-tokens 0": (lambda t: build(text(t), t, "--batch-tokens", "0"), "--batch-tokens"),
    "--workers 0": (lambda t: build(text(t), t, "--workers", "0"), "--workers"),
    "--dims not numbers": (lambda t: build(text(t), t, "--dims", "two"), "comma-separated"),
    "--dims 4": (lambda t: build(text(t), t, "--layouts", "pca", "--dims", "4"), "4D"),
    "unknown layout": (lambda t: build(text(t), t, "--layouts", "nope"), "unknown layout"),
    "--max-tokens not a number": (lambda t: build(text(t), t, "--max-tokens", "lots"), "lots"),
    # run folders
    "info on a run of a newer schema": (
        lambda t: ["info", synthetic(t, lambda r: edit_manifest(r, schema_version=99))],
        "upgrade",
    ),
    "info on a run whose manifest is not JSON": (
        lambda t: ["info", synthetic(t, lambda r: (r / "manifest.json").write_text("{"))],
        "unreadable",
    ),
    "info on a run whose manifest lacks fields": (
        lambda t: ["info", synthetic(t, lambda r: (r / "manifest.json").write_text('{"schema_version": 2}'))],
        "damaged",
    ),
    "info on an unfinished build": (
        lambda t: ["info", str((t / "r.partial").mkdir() or t / "r")],
        "not finished",
    ),
    "build into a finished run of another model": (
        lambda t: ["build", "minilm", text(t), "-o", synthetic(t), "--layouts", "none", "--quiet"],
        "already holds a run",
    ),
    "verify a truncated array": (
        lambda t: [
            "verify",
            synthetic(t, lambda r: (r / "capture/layers.0.q.npy").write_bytes(b"\x93NUMPY")),
        ],
        "layers.0.q.npy",
    ),
    # server command
    "serve a folder that is not a run": (lambda t: ["serve", str(t)], "not an attentionviz run"),
    "serve a missing folder": (lambda t: ["serve", str(t / "nothing")], "does not exist"),
    "serve on port 99999": (lambda t: ["serve", synthetic(t), "--port", "99999"], "99999"),
    "serve on an unknown host": (
        lambda t: ["serve", synthetic(t), "--host", "no-such-host.invalid"],
        "cannot listen",
    ),
}


@pytest.fixture(scope="module", autouse=True)
def quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip() and not line.startswith(NOISE)]


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_input_is_one_line(case: str, tmp_path: Path) -> None:
    make_args, expected = CLI_CASES[case]
    result = CliRunner().invoke(main, make_args(tmp_path))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = error_lines(result.output)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "out").exists(), "a failed build must not leave a run folder behind"


IMAGE_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "corrupt image": (lambda f: (f / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really"), "bad.png"),
    "truncated image": (truncated_png, "big.png"),
    "empty image file": (lambda f: (f / "empty.png").write_bytes(b""), "empty.png"),
    "text file named .png": (lambda f: (f / "note.png").write_text("hello"), "note.png"),
}


@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_cli_bad_image_is_one_line(case: str, digits_vit_path: Path, tmp_path: Path) -> None:
    spoil, expected = IMAGE_CASES[case]
    args = build(images(tmp_path, spoil), tmp_path, model=str(digits_vit_path))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = error_lines(result.output)
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- Python API


@pytest.fixture(scope="module")
def api_run(tmp_path_factory: pytest.TempPathFactory) -> av.Run:
    return make_synthetic_run(
        tmp_path_factory.mktemp("api") / "run", layers=2, heads=2, tokens=40, layouts=(("pca", 2),)
    )


API_CASES: dict[str, tuple[Callable[[av.Run], Any], str]] = {
    "layer out of range": (lambda r: r.head(99, 0), "layer 99 is out of range"),
    "head out of range": (lambda r: r.head(0, 99), "head 99 is out of range"),
    "negative layer": (lambda r: r.head(-1, 0), "out of range"),
    "sequence out of range": (lambda r: r.head(0, 0).attention(10**6), "sequence 1000000 is out of range"),
    "negative sequence": (lambda r: r.head(0, 0).attention(-1), "out of range"),
    "unknown layout": (lambda r: r.head(0, 0).layout("nope"), "no nope.2d layout for layer 0 head 0 (it has"),
    "4D layout": (lambda r: r.head(0, 0).layout("pca", dim=4), "2D or 3D"),
    "layout not computed": (lambda r: r.head(0, 0).layout("tsne"), "attentionviz embed"),
    "pre-rope vectors not kept": (lambda r: r.head(0, 0).queries(pre_rope=True), "--pre-rope"),
    "open a missing folder": (lambda r: av.open(r.path.parent / "missing"), "does not exist"),
    "unknown build setting": (
        lambda r: av.build("minilm", ["Hi."], out=r.path.parent / "x", max_tokenz=5),
        "max_tokenz",
    ),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_api_bad_request_raises_one_line(case: str, api_run: av.Run) -> None:
    call, expected = API_CASES[case]
    with pytest.raises(av.AttentionVizError) as caught:
        call(api_run)
    message = str(caught.value)
    assert expected in message and "\n" not in message


DAMAGE: dict[str, tuple[Callable[[Path], None], Callable[[av.Run], Any], str]] = {
    "truncated query array": (
        lambda r: (r / "capture/layers.0.q.npy").write_bytes(
            (r / "capture/layers.0.q.npy").read_bytes()[:200]
        ),
        lambda run: run.head(0, 1).queries(),
        "verify",
    ),
    "missing key array": (
        lambda r: (r / "capture/layers.0.k.npy").unlink(),
        lambda run: run.head(0, 0).attention(0),
        "missing",
    ),
    "missing aggregate": (
        lambda r: (r / "capture/layers.0.aggregate.npy").unlink(),
        lambda run: run.head(0, 1).aggregate(),
        "missing",
    ),
    "missing sequence table": (
        lambda r: (r / "sequences.parquet").unlink(),
        lambda run: run.sequences,
        "missing",
    ),
    "garbage token table": (
        lambda r: (r / "tokens.parquet").write_bytes(b"PAR1 nonsense"),
        lambda run: run.tokens,
        "damaged",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_api_damaged_run_raises_one_line(case: str, tmp_path: Path) -> None:
    spoil, call, expected = DAMAGE[case]
    run_dir = Path(synthetic(tmp_path, spoil))
    with pytest.raises(av.AttentionVizError, match=expected):
        call(av.open(run_dir))


# ---------------------------------------------------------------- server


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from fastapi.testclient import TestClient

    from attentionviz.hosts.server import create_app

    root = tmp_path_factory.mktemp("served")
    make_synthetic_run(root / "good", layers=2, heads=2, tokens=40, layouts=(("pca", 2),))
    make_synthetic_run(root / "damaged", layers=1, heads=1, tokens=20, layouts=(("pca", 2),))
    (root / "damaged/tokens.parquet").unlink()
    q = root / "damaged/capture/layers.0.q.npy"
    q.write_bytes(q.read_bytes()[:200])
    return TestClient(create_app([root], static_dir=None), raise_server_exceptions=False)


HEAD = "/api/runs/good/layers.0.heads.0"
SERVER_CASES: dict[str, tuple[str, int, str]] = {
    "unknown run": ("/api/runs/nope", 404, "no run named 'nope'"),
    "layer out of range": ("/api/runs/good/layers.99.heads.0", 404, "layer 99 is out of range"),
    "head out of range": ("/api/runs/good/layers.0.heads.99", 404, "head 99 is out of range"),
    "huge layer number": ("/api/runs/good/layers.99999999999999999999999.heads.0", 404, "no API route"),
    "4,301-digit layer number": (f"/api/runs/good/layers.{'9' * 4301}.heads.0", 404, "no API route"),
    "negative layer": ("/api/runs/good/layers.-1.heads.0", 404, "no API route"),
    "unknown layout": (f"{HEAD}/nope.2d", 404, "unknown layout"),
    "4D layout": (f"{HEAD}/pca.4d", 404, "no API route"),
    "layout not computed": (f"{HEAD}/tsne.2d", 404, "attentionviz embed"),
    "bad row order": (f"{HEAD}/pca.2d?order=sideways", 422, "order"),
    "zero limit": (f"{HEAD}/norms?limit=0", 422, "limit"),
    "non-numeric limit": (f"{HEAD}/norms?limit=ten", 422, "limit"),
    "unknown API route": ("/api/nothing/here", 404, "no API route"),
    "damaged run: missing token table": ("/api/runs/damaged/tokens", 400, "missing tokens.parquet"),
    "damaged run: truncated array": ("/api/runs/damaged/layers.0.heads.0/norms", 400, "damaged"),
}


@pytest.mark.parametrize("case", sorted(SERVER_CASES))
def test_server_bad_request_is_4xx_json(case: str, client: Any) -> None:
    url, status, expected = SERVER_CASES[case]
    response = client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert expected in json.dumps(response.json()["detail"])
    assert len(response.text) < 2000, "a 404 answers in one short line, whatever the URL"


def test_a_very_long_run_name_is_not_echoed_whole(client: Any) -> None:
    response = client.get(f"/api/runs/{'x' * 65_000}")
    assert response.status_code == 404 and "no run named" in response.json()["detail"]
    assert len(response.text) < 500


# ---------------------------------------------------------------- odd but valid text


def capture_text(minilm: Any, path: Path, out: Path, **settings: Any) -> av.Run:
    return av.build(
        minilm.model, path, tokenizer=minilm.tokenizer, out=out, layouts=(), max_tokens=None, **settings
    )


ODD_TEXT: dict[str, bytes] = {
    "byte-order mark": "\ufeffThe BOM starts this file.\nA second line.\n".encode(),
    "CRLF line ends": b"First line here.\r\nSecond line here.\r\n\r\nThird.\r\n",
    "right-to-left": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645.\n\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd.\n".encode(),
    "combining characters": "Cafe\u0301 na\u0131\u0308ve Zo\u0308e.\nA\u030a\u0327 ring.\n".encode(),
    "emoji": "I love \U0001f355 and \U0001f468\u200d\U0001f469\u200d\U0001f467 families \U0001f1eb\U0001f1f7.\n".encode(),
    "whitespace-only lines": b"A line.\n   \n\t\n\xc2\xa0\nAnother line.\n",
}


@pytest.mark.parametrize("case", sorted(ODD_TEXT))
def test_odd_text_is_captured_faithfully(case: str, minilm: Any, tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(ODD_TEXT[case])
    run = capture_text(minilm, path, tmp_path / "run", split="line")
    tokens, sequences = run.tokens, run.sequences
    source_lines = [line for line in path.read_bytes().decode("utf-8-sig").splitlines() if line.strip()]
    assert len(sequences) == len(source_lines), "every non-blank line is one sequence, blank ones none"
    for row in sequences.itertuples():
        assert "\r" not in row.text and "\ufeff" not in row.text
        assert row.text.strip(), "a whitespace-only line became a sequence"
    content = tokens[~tokens["special"]]
    assert len(content) > 0
    for row in content.itertuples():  # every span points into its own sequence's text
        seq_text = sequences.iloc[row.sequence]["text"]
        assert 0 <= row.char_start < row.char_end <= len(seq_text)
    assert "\ufeff" not in "".join(tokens["token"])


def test_a_line_longer_than_the_context_is_split_into_windows_not_cut(minilm: Any, tmp_path: Path) -> None:
    words = [f"w{i % 97}" for i in range(330)]  # about 660 word pieces
    path = tmp_path / "long.txt"
    path.write_text("Short line.\n" + " ".join(words) + "\n", encoding="utf-8")
    run = capture_text(minilm, path, tmp_path / "run", split="line")  # MiniLM's context: 512
    tokens, sequences = run.tokens, run.sequences
    long_line = sequences[sequences["document"] == 1]
    assert long_line["window"].tolist() == list(range(len(long_line))) and len(long_line) >= 2
    assert (long_line["n_tokens"] <= 512).all()
    kept = tokens[tokens["sequence"].isin(long_line["sequence"]) & ~tokens["special"]]
    assert (
        kept["window"].to_numpy()
        == long_line.set_index("sequence").loc[kept["sequence"], "window"].to_numpy()
    ).all()
    expected_ids = minilm.tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    assert kept["token_id"].tolist() == expected_ids, "every token of the long line is kept, in order"


def test_mixed_size_images_are_all_captured(
    digits_vit_path: Path, image_folder: Path, tmp_path: Path
) -> None:
    run = av.build(str(digits_vit_path), image_folder, out=tmp_path / "run", layouts=(), max_tokens=None)
    assert run.info.n_sequences == len(list(image_folder.glob("*.png")))
    assert len({int(n) for n in run.sequences["n_tokens"]}) == 1, (
        "every image is resized to the model's input"
    )


# ---------------------------------------------------------------- a finished run survives failures


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_failed_commands_leave_a_finished_run_byte_identical(tmp_path: Path) -> None:
    corpus = text(tmp_path)
    out = tmp_path / "run"
    first = CliRunner().invoke(
        main, ["build", "minilm", corpus, "-o", str(out), "--layouts", "none", "--quiet"]
    )
    assert first.exit_code == 0, first.output
    before = tree_digest(out)
    failing = [
        ["build", "minilm", write(tmp_path, "bad.txt", b"\xff\xfe"), "-o", str(out), "--quiet"],
        ["build", "minilm", corpus, "-o", str(out), "--quiet", "--max-tokens", "7", "--layouts", "none"],
        ["build", model_folder(tmp_path, "no-weights"), corpus, "-o", str(out), "--quiet"],
        ["build", "minilm", corpus, "-o", str(out), "--quiet", "--layouts", "nope"],
        ["build", "minilm", corpus, "-o", str(out), "--quiet", "--max-length", "1"],
        ["serve", str(out), "--port", "70000"],
    ]
    for args in failing:
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert tree_digest(out) == before, f"{args} changed the finished run"
        assert not out.with_name("run.partial").exists()
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0
    shutil.rmtree(out)
