"""Corpus readers: what each format yields, stable fingerprints, two passes giving the same sequences."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from attentionviz.corpus import Corpus, CorpusSequence, open_corpus, textio
from attentionviz.corpus import text as text_module

TEXT = (
    "Dr. Smith paid $3.50 for tea. Then he left.\n"
    "He came back at 5 p.m. on Monday.\n"
    "\n"
    "  \n"
    "A second paragraph.\n"
    "\n"
    "Third one? Yes!\n"
)


def texts(corpus: Corpus) -> list[str | None]:
    return [item.text for item in corpus]


def write_png(path: Path, size: tuple[int, int] = (8, 8), color: int = 128) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, color).save(path)
    return path


def test_text_file_split_into_sentences_by_paragraph_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    items = list(open_corpus(path))
    assert [(i.document, i.text, i.source) for i in items] == [
        (0, "Dr. Smith paid $3.50 for tea.", "corpus.txt:1"),
        (0, "Then he left.", "corpus.txt:1"),
        (0, "He came back at 5 p.m. on Monday.", "corpus.txt:2"),
        (1, "A second paragraph.", "corpus.txt:5"),
        (2, "Third one?", "corpus.txt:7"),
        (2, "Yes!", "corpus.txt:7"),
    ]
    assert all(i.image_path is None for i in items)


def test_text_file_split_by_line_and_by_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "corpus.md"
    path.write_text(TEXT, encoding="utf-8")
    by_line = list(open_corpus(path, split="line"))
    assert [(i.document, i.source) for i in by_line] == [
        (0, "corpus.md:1"),
        (1, "corpus.md:2"),
        (4, "corpus.md:5"),
        (6, "corpus.md:7"),
    ]
    assert by_line[1].text == "He came back at 5 p.m. on Monday."
    by_paragraph = list(open_corpus(path, split="paragraph"))
    assert [i.text for i in by_paragraph] == [
        "Dr. Smith paid $3.50 for tea. Then he left.\nHe came back at 5 p.m. on Monday.",
        "A second paragraph.",
        "Third one? Yes!",
    ]
    assert [i.source for i in by_paragraph] == ["corpus.md:1", "corpus.md:5", "corpus.md:7"]
    assert open_corpus(path, split="paragraph").info.n_documents == 3
    assert open_corpus(path, split="line").info.n_documents == 7


def test_bom_and_crlf_are_normalised(tmp_path: Path) -> None:
    plain, windows = tmp_path / "plain" / "c.txt", tmp_path / "windows" / "c.txt"
    plain.parent.mkdir()
    windows.parent.mkdir()
    plain.write_bytes(TEXT.encode("utf-8"))
    windows.write_bytes(b"\xef\xbb\xbf" + TEXT.replace("\n", "\r\n").encode("utf-8"))
    for split in ("sentence", "line", "paragraph"):
        assert list(open_corpus(windows, split=split)) == list(open_corpus(plain, split=split))
    assert texts(open_corpus(windows))[0] == "Dr. Smith paid $3.50 for tea.", "no BOM left in the text"


def test_chunk_and_paragraph_boundaries_do_not_change_the_sentences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "long.txt"
    sentences = [f"Sentence number {i} says héllo 👋 to the reader." for i in range(300)]
    body = "\n\n\n".join(" ".join(sentences[i : i + 30]) for i in range(0, 300, 30))
    path.write_text(body.replace(" Sentence number 7 ", "\r\nSentence number 7 "), encoding="utf-8")
    expected = list(open_corpus(path))
    assert [i.text for i in expected] == sentences
    monkeypatch.setattr(textio, "CHUNK_BYTES", 7)  # splits multi-byte characters and CRLF pairs
    monkeypatch.setattr(text_module, "MAX_PARAGRAPH_CHARS", 100)  # hands paragraphs out in pieces
    assert list(open_corpus(path)) == expected
    assert open_corpus(path).info.n_documents == 10


def test_in_memory_strings(tmp_path: Path) -> None:
    corpus = open_corpus(["One. Two.", "", "  ", "Three"])
    assert [(i.document, i.text, i.source) for i in corpus] == [
        (0, "One.", "item 0"),
        (0, "Two.", "item 0"),
        (3, "Three", "item 3"),
    ]
    info = corpus.info
    assert (info.format, info.source, info.n_documents) == ("in-memory", "in-memory", 4)
    assert info.fingerprint == open_corpus(["One. Two.", "", "  ", "Three"]).info.fingerprint
    assert info.fingerprint != open_corpus(["One. Two.", "", " ", " Three"]).info.fingerprint


def test_jsonl_reads_the_text_column_skips_empty_cells_and_uses_titles(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    records = [
        {"id": 1, "title": "First", "text": "Alpha one. Alpha two."},
        {"id": 2, "text": None},
        {"id": 3, "text": ""},
        {"id": 4, "other": "no text here"},
        {"id": 5, "text": "Omega."},
    ]
    path.write_text(
        "\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8"
    )  # "other" is only in record 4
    corpus = open_corpus(path)
    assert [(i.document, i.text, i.source) for i in corpus] == [
        (0, "Alpha one.", "First"),
        (0, "Alpha two.", "First"),
        (4, "Omega.", "data.jsonl:5"),
    ]
    assert (corpus.info.format, corpus.info.text_column, corpus.info.n_documents) == ("jsonl", "text", 5)
    named = open_corpus(path, text_column="other", split="line")
    assert texts(named) == ["no text here"]


def test_csv_and_tsv_with_quoted_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "body"])
        writer.writerow(["a", 'He said "hi, there".\nSecond line.'])
        writer.writerow(["b", ""])
        writer.writerow(["c", "Last, with a comma."])
    corpus = open_corpus(path, text_column="body")
    assert [(i.document, i.text, i.source) for i in corpus] == [
        (0, 'He said "hi, there".', "data.csv:2"),
        (0, "Second line.", "data.csv:2"),
        (2, "Last, with a comma.", "data.csv:5"),
    ]
    assert corpus.info.n_documents == 3
    tsv = tmp_path / "data.tsv"
    tsv.write_text("text\tn\nTab separated. Works.\t1\n", encoding="utf-8")
    assert texts(open_corpus(tsv)) == ["Tab separated.", "Works."]
    assert open_corpus(tsv).info.format == "tsv"


def test_parquet_streams_a_string_column(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    table = pa.table({"text": ["First. Second.", None, "Third."], "title": ["A", "B", None], "n": [1, 2, 3]})
    pq.write_table(table, path, row_group_size=2)
    corpus = open_corpus(path)
    assert [(i.document, i.text, i.source) for i in corpus] == [
        (0, "First.", "A"),
        (0, "Second.", "A"),
        (2, "Third.", "data.parquet:row 3"),
    ]
    assert (corpus.info.format, corpus.info.n_documents) == ("parquet", 3)


def test_json_list_of_records_list_of_strings_and_object_of_records(tmp_path: Path) -> None:
    records, strings, keyed = tmp_path / "records.json", tmp_path / "strings.json", tmp_path / "keyed.json"
    records.write_text(json.dumps([{"text": "One. Two."}, {"text": "Three."}]), encoding="utf-8")
    strings.write_text(json.dumps(["One. Two.", "Three."]), encoding="utf-8")
    keyed.write_text(json.dumps({"Cats": {"extract": "Cats purr."}, "Dogs": {"extract": "Dogs bark."}}))
    assert texts(open_corpus(records)) == texts(open_corpus(strings)) == ["One.", "Two.", "Three."]
    assert [(i.document, i.source) for i in open_corpus(keyed)] == [(0, "Cats"), (1, "Dogs")]
    assert open_corpus(keyed).info.text_column == "extract"


def test_saved_hugging_face_dataset(tmp_path: Path) -> None:
    import datasets

    data = datasets.Dataset.from_dict(
        {"text": ["Hello there. General Kenobi.", "", "Bye."], "label": [0, 1, 2]}
    )
    data.save_to_disk(str(tmp_path / "ds"))
    corpus = open_corpus(tmp_path / "ds")
    assert [(i.document, i.text) for i in corpus] == [
        (0, "Hello there."),
        (0, "General Kenobi."),
        (2, "Bye."),
    ]
    assert (corpus.info.format, corpus.info.n_documents) == ("hf-dataset", 3)
    datasets.DatasetDict({"train": data}).save_to_disk(str(tmp_path / "dict"))
    assert texts(open_corpus(tmp_path / "dict")) == texts(corpus), "a one-split DatasetDict is that split"


def test_image_folder_is_recursive_sorted_and_accepts_mixed_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    write_png(folder / "b.png", (8, 8))
    write_png(folder / "a" / "z.png", (32, 20))
    from PIL import Image

    Image.new("RGB", (5, 7), (1, 2, 3)).save(folder / "c.JPG")
    (folder / "notes.txt").write_text("not an image")
    write_png(folder / ".hidden" / "x.png")
    corpus = open_corpus(folder)
    items = list(corpus)
    assert corpus.kind == "image"
    assert [(i.document, i.source, i.text) for i in items] == [
        (0, "a/z.png", None),
        (1, "b.png", None),
        (2, "c.JPG", None),
    ]
    assert all(i.image_path is not None and i.image_path.is_file() for i in items)
    assert (corpus.info.format, corpus.info.n_documents, corpus.info.split) == ("images", 3, None)


def test_the_demo_corpus_is_the_wikipedia_summaries_by_article() -> None:
    corpus = open_corpus("wikipedia")
    first = next(iter(corpus))
    assert first.document == 0 and first.source and first.text and first.text[-1] in ".!?\"'"
    info = corpus.info
    assert (info.source, info.format, info.text_column, info.split) == (
        "wikipedia",
        "json",
        "extract",
        "sentence",
    )
    assert info.n_documents > 9000
    count = sum(1 for _ in corpus)
    assert 30_000 < count < 45_000, count


def fingerprints_and_passes_cases(tmp_path: Path) -> list[Callable[[], Corpus]]:
    (tmp_path / "c.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "c.jsonl").write_text('{"text": "A. B."}\n{"text": "C."}\n', encoding="utf-8")
    write_png(tmp_path / "img" / "a.png")
    write_png(tmp_path / "img" / "b.png", color=3)
    return [
        lambda: open_corpus(tmp_path / "c.txt"),
        lambda: open_corpus(tmp_path / "c.txt", split="line"),
        lambda: open_corpus(tmp_path / "c.jsonl"),
        lambda: open_corpus(tmp_path / "img"),
        lambda: open_corpus(["A. B.", "C."]),
    ]


def test_two_passes_give_the_same_sequences_and_fingerprints_are_stable(tmp_path: Path) -> None:
    for make in fingerprints_and_passes_cases(tmp_path):
        corpus = make()
        first, second = list(corpus), list(corpus)
        assert first == second and first and all(isinstance(i, CorpusSequence) for i in first)
        assert corpus.info == make().info
        assert len(corpus.info.fingerprint) == 64


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("One sentence.", encoding="utf-8")
    before = open_corpus(path).info.fingerprint
    path.write_text("One sentence!", encoding="utf-8")
    assert open_corpus(path).info.fingerprint != before
    write_png(tmp_path / "img" / "a.png")
    images_before = open_corpus(tmp_path / "img").info.fingerprint
    (tmp_path / "img" / "a.png").rename(tmp_path / "img" / "b.png")
    assert open_corpus(tmp_path / "img").info.fingerprint != images_before, "file names count"


def test_format_override_reads_an_odd_suffix(tmp_path: Path) -> None:
    path = tmp_path / "records.data"
    path.write_text('{"text": "From JSONL."}\n', encoding="utf-8")
    assert texts(open_corpus(path, fmt="jsonl")) == ["From JSONL."]
    assert texts(open_corpus(path, split="line")) == ['{"text": "From JSONL."}'], "unknown suffixes are text"
