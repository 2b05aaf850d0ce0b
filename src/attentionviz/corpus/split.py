"""Splitting text into sequences: sentences (with `sentencex`), lines or paragraphs.

`sentencex` is a maintained rule-based splitter (Wikimedia) with abbreviation lists for many
languages; it keeps decimals ("3.50"), abbreviations ("Dr.", "U.S.", "p.m."), closing quotes,
right-to-left scripts and emoji intact, and its pieces concatenate back to the input exactly.
Pieces are returned stripped of surrounding whitespace; whitespace-only pieces are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_BLANK_LINES = re.compile(r"\n\s*\n")


def sentences(text: str, *, language: str = "en") -> Iterator[tuple[int, str]]:
    """(character offset in `text`, stripped sentence) for each sentence of `text`."""
    import sentencex

    offset = 0
    for piece in sentencex.segment(language, text):
        start = text.find(piece, offset)
        if start < 0:  # sentencex returns exact substrings; stay robust if a version does not
            start = offset
        else:
            offset = start + len(piece)
        stripped = piece.strip()
        if stripped:
            yield start + (len(piece) - len(piece.lstrip())), stripped


def lines(text: str) -> Iterator[tuple[int, str]]:
    """(character offset, stripped line) for each non-blank "\\n"-separated line of `text`."""
    offset = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            yield offset + (len(line) - len(line.lstrip())), stripped
        offset += len(line) + 1


def paragraphs(text: str) -> Iterator[tuple[int, str]]:
    """(character offset, stripped paragraph) for each blank-line-separated block of `text`."""
    start = 0
    for match in _BLANK_LINES.finditer(text):
        yield from _stripped(text, start, match.start())
        start = match.end()
    yield from _stripped(text, start, len(text))


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    block = text[start:end]
    stripped = block.strip()
    if stripped:
        yield start + (len(block) - len(block.lstrip())), stripped


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF, as when files are read."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def split_text(text: str, split: str, *, language: str = "en") -> Iterator[tuple[int, str]]:
    """(character offset, stripped piece) for `text` cut by `split` ("sentence", "line" or "paragraph")."""
    if split == "sentence":
        return sentences(text, language=language)
    if split == "line":
        return lines(text)
    return paragraphs(text)
