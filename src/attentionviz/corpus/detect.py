"""`open_corpus`: pick the reader for a path, a folder, an alias or a list of strings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from attentionviz.corpus import demo
from attentionviz.corpus.base import Corpus, check_split
from attentionviz.corpus.images import ImageFolderCorpus
from attentionviz.corpus.tables import (
    CsvCorpus,
    DatasetCorpus,
    JsonCorpus,
    JsonlCorpus,
    ParquetCorpus,
    is_saved_dataset,
)
from attentionviz.corpus.text import InMemoryCorpus, TextFileCorpus
from attentionviz.errors import CorpusError

logger = logging.getLogger(__name__)

FORMATS = ("text", "jsonl", "csv", "tsv", "parquet", "json", "hf-dataset", "images")
SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
}
WHAT_TO_PASS = (
    "pass a text file, a .jsonl/.csv/.tsv/.parquet/.json table, a dataset folder saved with "
    f"save_to_disk, a folder of images, or {demo.ALIAS!r} for the demo corpus"
)


def detect_format(path: Path) -> str:
    """The format a path is read as, from its suffix or (for folders) its contents."""
    if path.is_dir():
        return "hf-dataset" if is_saved_dataset(path) else "images"
    return SUFFIXES.get(path.suffix.lower(), "text")


def open_corpus(
    source: str | Path | Sequence[str],
    *,
    split: str = "sentence",
    text_column: str | None = None,
    fmt: str | None = None,
    language: str = "en",
) -> Corpus:
    """Open a corpus for streaming; raise a one-line CorpusError if it cannot be read or is empty.

    `source` is a path (file or folder), the alias "wikipedia" (the demo corpus, unless a path of
    that name exists), or a list of strings (each one a document). `fmt` overrides detection
    (one of `FORMATS`). `split` cuts text into "sentence"s (default), "line"s or "paragraph"s;
    `language` is the sentence splitter's language code. `text_column` names a table's text column.
    """
    split = check_split(split)
    corpus = _open(source, split=split, text_column=text_column, fmt=fmt, language=language)
    corpus.check_not_empty()
    logger.info("opened corpus %r", corpus)
    return corpus


def _open(
    source: str | Path | Sequence[str], *, split: str, text_column: str | None, fmt: str | None, language: str
) -> Corpus:
    if not isinstance(source, str | Path):
        if fmt not in (None, "in-memory"):
            raise CorpusError(f"a list of strings is read as is; drop the format {fmt!r}")
        return InMemoryCorpus(source, split=split, language=language)
    path = Path(source).expanduser()
    if str(source) == demo.ALIAS and not path.exists():
        return JsonCorpus(
            demo.wikipedia_summaries_path(),
            split=split,
            text_column=text_column or demo.TEXT_COLUMN,
            language=language,
            source=demo.ALIAS,
        )
    if fmt is not None and fmt not in FORMATS:
        raise CorpusError(f"unknown corpus format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise CorpusError(f"corpus {path} does not exist; {WHAT_TO_PASS}")
    fmt = fmt or detect_format(path)
    if path.is_dir() != (fmt in ("hf-dataset", "images")):
        kind = "a folder" if path.is_dir() else "a file"
        raise CorpusError(f"corpus {path} is {kind}, which cannot be read as {fmt}; {WHAT_TO_PASS}")
    if fmt == "images":
        return ImageFolderCorpus(path)
    if fmt == "hf-dataset":
        return DatasetCorpus(path, split=split, text_column=text_column, language=language)
    if fmt == "text":
        if text_column is not None:
            raise CorpusError(f"{path} is read as plain text, which has no columns; drop --text-column")
        return TextFileCorpus(path, split=split, language=language)
    if fmt == "jsonl":
        return JsonlCorpus(path, split=split, text_column=text_column, language=language)
    if fmt in ("csv", "tsv"):
        delimiter = "\t" if fmt == "tsv" else ","
        return CsvCorpus(path, split=split, text_column=text_column, delimiter=delimiter, language=language)
    if fmt == "parquet":
        return ParquetCorpus(path, split=split, text_column=text_column, language=language)
    return JsonCorpus(path, split=split, text_column=text_column, language=language)
