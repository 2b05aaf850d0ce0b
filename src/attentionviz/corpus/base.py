"""What every corpus reader gives the capture pipeline: a re-iterable stream of sequences.

A corpus is read lazily: `iter(corpus)` re-opens the source each time, so two passes (count,
then capture) see the same sequences, and memory holds one document (line, record, article,
file) at a time, never the whole corpus.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from attentionviz.errors import CorpusError
from attentionviz.hashing import HASH_CHUNK
from attentionviz.store.manifest import CorpusInfo

SPLITS = ("sentence", "line", "paragraph")


@dataclass(frozen=True)
class CorpusSequence:
    """One sequence to run through the model: a sentence, a line, a paragraph or an image."""

    document: int  # index of the source document (line, record, article, file), 0-based
    text: str | None  # the sequence text; None for images
    source: str  # short human-readable origin: "corpus.txt:12", an article title, an image file name
    image_path: Path | None = None  # the image file, for image corpora


class Corpus(abc.ABC):
    """A re-iterable stream of `CorpusSequence`s plus a description for the run manifest."""

    kind: ClassVar[str] = "text"  # "text" | "image"

    def __init__(self, *, source: str, fmt: str, split: str | None, text_column: str | None) -> None:
        self._source = source
        self._format = fmt
        self._split = split
        self._text_column = text_column
        self._info: CorpusInfo | None = None

    @abc.abstractmethod
    def __iter__(self) -> Iterator[CorpusSequence]:
        """Stream the sequences from the start, re-opening the source."""

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """sha256 (hex) of the bytes read, stable across runs and machines."""

    @abc.abstractmethod
    def count_documents(self) -> int:
        """How many source documents the corpus holds (one pass, without splitting)."""

    @property
    def info(self) -> CorpusInfo:
        """The manifest's description of this corpus (computed once: one hashing pass, one counting pass)."""
        if self._info is None:
            self._info = CorpusInfo(
                source=self._source,
                format=self._format,
                fingerprint=self.fingerprint(),
                split=self._split,
                text_column=self._text_column,
                n_documents=self.count_documents(),
            )
        return self._info

    def check_not_empty(self) -> None:
        """Raise a CorpusError unless the corpus yields at least one sequence (reads up to the first)."""
        for _ in self:
            return
        what = "images" if self.kind == "image" else "text"
        raise CorpusError(f"corpus {self._source} holds no {what}; point at a corpus with some {what} in it")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._source!r}, format={self._format!r}, split={self._split!r})"


def sha256_files(root: Path, files: Iterable[Path]) -> str:
    """sha256 over files in the given order: each file's path relative to `root`, its size, its bytes."""
    digest = hashlib.sha256()
    for path in files:
        name = path.relative_to(root).as_posix().encode("utf-8")
        digest.update(len(name).to_bytes(8, "little") + name)
        digest.update(path.stat().st_size.to_bytes(8, "little"))
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def sha256_strings(strings: Iterable[str]) -> str:
    """sha256 of in-memory strings: each one's UTF-8 length (8 bytes) then its UTF-8 bytes."""
    digest = hashlib.sha256()
    for text in strings:
        data = text.encode("utf-8", errors="surrogatepass")
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise CorpusError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return split
