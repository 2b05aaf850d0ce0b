"""Plain text files and in-memory lists of strings.

A text file's documents are its paragraphs (blank-line-separated blocks) when split by sentence
or paragraph, and its lines when split by line; each sequence's `source` is "file:line" with the
1-based line where it starts. Memory holds one chunk of the file plus the sequence being cut:
a paragraph longer than `MAX_PARAGRAPH_CHARS` is split into sentences piece by piece.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from pathlib import Path

from attentionviz.corpus import split as splitting
from attentionviz.corpus import textio
from attentionviz.corpus.base import Corpus, CorpusSequence, sha256_strings
from attentionviz.errors import CorpusError
from attentionviz.hashing import sha256_file

MAX_PARAGRAPH_CHARS = 1 << 18


class TextFileCorpus(Corpus):
    """A UTF-8 text file (.txt, .md, or any suffix not recognised as a table)."""

    def __init__(self, path: Path, *, split: str, language: str = "en") -> None:
        textio.check_readable_file(path)
        super().__init__(source=str(path), fmt="text", split=split, text_column=None)
        self.path = path
        self.language = language

    def __iter__(self) -> Iterator[CorpusSequence]:
        if self._split == "line":
            return self._lines()
        if self._split == "paragraph":
            return self._paragraphs()
        return self._sentences()

    def _label(self, line: int) -> str:
        return f"{self.path.name}:{line}"

    def _lines(self) -> Iterator[CorpusSequence]:
        for index, line in enumerate(textio.lines(self.path)):
            text = line.strip()
            if text:
                yield CorpusSequence(document=index, text=text, source=self._label(index + 1))

    def _paragraphs(self) -> Iterator[CorpusSequence]:
        document = 0
        for block, line, _ in textio.paragraphs(self.path):
            text = block.strip()
            if text:
                first = line + block.count("\n", 0, len(block) - len(block.lstrip()))
                yield CorpusSequence(document=document, text=text, source=self._label(first))
                document += 1

    def _sentences(self) -> Iterator[CorpusSequence]:
        document = 0
        carry, carry_line = "", 1  # text of an unfinished paragraph not yet handed out
        min_retry = 0  # a piece with no sentence boundary is retried once it has doubled
        for piece, line, ends in textio.paragraphs(self.path, max_chars=MAX_PARAGRAPH_CHARS):
            if not carry:
                carry_line = line
            text = carry + piece
            if not ends and len(text) < min_retry:
                carry = text
                continue
            found = list(splitting.sentences(text, language=self.language))
            keep = found if ends else found[:-1]
            newline_pos, newline_count = 0, 0
            for offset, sentence in keep:
                newline_count += text.count("\n", newline_pos, offset)
                newline_pos = offset
                yield CorpusSequence(
                    document=document, text=sentence, source=self._label(carry_line + newline_count)
                )
            if ends:
                if found:
                    document += 1
                carry, min_retry = "", 0
            else:
                cut = found[-1][0] if found else len(text)
                if keep:
                    carry_line += text.count("\n", 0, cut)
                    carry, min_retry = text[cut:], 0
                else:
                    carry, min_retry = text, 2 * len(text)

    def fingerprint(self) -> str:
        return sha256_file(self.path)

    def count_documents(self) -> int:
        if self._split == "line":
            return sum(1 for _ in textio.lines(self.path))
        count, content = 0, False
        for block, _, ends in textio.paragraphs(self.path, max_chars=MAX_PARAGRAPH_CHARS):
            content = content or bool(block.strip())
            if ends:
                count, content = count + content, False
        return count


class RecordCorpus(Corpus):
    """A corpus whose documents are strings (records, articles, list items), each split into sequences."""

    def __init__(
        self, *, source: str, fmt: str, split: str, text_column: str | None, language: str = "en"
    ) -> None:
        super().__init__(source=source, fmt=fmt, split=split, text_column=text_column)
        self.language = language

    @abc.abstractmethod
    def documents(self) -> Iterator[tuple[int, str | None, str]]:
        """(document index, text or None when empty/null, source label) for each document."""

    def __iter__(self) -> Iterator[CorpusSequence]:
        split = self._split or "sentence"
        for document, text, label in self.documents():
            if not text:
                continue
            text = splitting.normalize_newlines(text)
            for _, piece in splitting.split_text(text, split, language=self.language):
                yield CorpusSequence(document=document, text=piece, source=label)

    def count_documents(self) -> int:
        return sum(1 for _ in self.documents())


class InMemoryCorpus(RecordCorpus):
    """A list of strings given in Python; each string is a document."""

    def __init__(self, texts: Sequence[str], *, split: str, language: str = "en") -> None:
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise CorpusError(
                    f"in-memory corpus item {index} is a {type(text).__name__}, not a str; pass a list of strings"
                )
        super().__init__(
            source="in-memory", fmt="in-memory", split=split, text_column=None, language=language
        )
        self.texts = list(texts)

    def documents(self) -> Iterator[tuple[int, str | None, str]]:
        for index, text in enumerate(self.texts):
            yield index, text, f"item {index}"

    def fingerprint(self) -> str:
        return sha256_strings(self.texts)

    def count_documents(self) -> int:
        return len(self.texts)
