"""Reading text files safely and in bounded memory.

Every text-based reader (plain text, JSONL, CSV, JSON) goes through `decoded_chunks`: strict
UTF-8 (an error names the file and the byte offset), a leading BOM dropped, CRLF and lone CR
turned into LF, and binary files (NUL bytes) refused, all while holding one chunk at a time.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path

from attentionviz.errors import CorpusError

CHUNK_BYTES = 1 << 20

_BINARY_SIGNATURES = {
    b"\xff\xfe": "UTF-16 text",
    b"\xfe\xff": "UTF-16 text",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive",
    b"\x1f\x8b": "a gzip archive",
    b"PAR1": "a Parquet file",
}


def _describe_binary(head: bytes) -> str:
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            return what
    return "binary data"


def check_readable_file(path: Path) -> None:
    """Raise a CorpusError for a path that is not a readable, non-empty regular file."""
    if not path.exists():
        raise CorpusError(f"corpus file {path} does not exist; check the path")
    if not path.is_file():
        raise CorpusError(f"corpus {path} is not a regular file; point at a file or a folder of images")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise CorpusError(f"cannot read corpus file {path} ({exc.strerror}); check its permissions") from exc
    if size == 0:
        raise CorpusError(f"corpus file {path} is empty; point at a file that holds some text")


def decoded_chunks(path: Path, *, chunk_bytes: int | None = None) -> Iterator[str]:
    """Stream a UTF-8 file as text chunks, with BOM dropped and newlines normalised to LF.

    Raises CorpusError for NUL bytes (binary files, UTF-16) and invalid UTF-8, naming the byte offset.
    """
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = 0  # bytes of the file handed to the decoder so far
    held_cr = ""  # a trailing "\r" held back in case the next chunk starts with "\n"
    first = True
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CorpusError(f"cannot read corpus file {path} ({exc.strerror}); check its permissions") from exc
    with handle:
        while True:
            data = handle.read(chunk_bytes)
            final = not data
            if first:
                if data.startswith(codecs.BOM_UTF8):
                    data = data[len(codecs.BOM_UTF8) :]
                    offset = len(codecs.BOM_UTF8)
                elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    raise CorpusError(
                        f"{path} is UTF-16 text; re-encode it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)"
                    )
                first = False
            nul = data.find(b"\x00")
            if nul >= 0:
                raise CorpusError(
                    f"{path} looks like {_describe_binary(data if offset == 0 else b'')}, not text "
                    f"(NUL byte at offset {offset + nul}); point at a UTF-8 text file"
                )
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as exc:
                position = offset - pending + exc.start
                raise CorpusError(
                    f"{path} is not valid UTF-8 (byte offset {position}); re-encode it as UTF-8 "
                    f"(e.g. `iconv -f latin1 -t UTF-8`)"
                ) from exc
            offset += len(data)
            text = held_cr + text
            held_cr = ""
            if text.endswith("\r") and not final:
                held_cr, text = "\r", text[:-1]
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text:
                yield text
            if final:
                return


def lines(path: Path, *, chunk_bytes: int | None = None) -> Iterator[str]:
    """Stream a UTF-8 file line by line, each line ending with "\\n" except perhaps the last."""
    rest = ""
    for chunk in decoded_chunks(path, chunk_bytes=chunk_bytes):
        rest += chunk
        start = 0
        while (end := rest.find("\n", start)) >= 0:
            yield rest[start : end + 1]
            start = end + 1
        rest = rest[start:]
    if rest:
        yield rest


# A paragraph break: a newline, then only whitespace up to another newline that is followed
# (after optional indentation) by text. The lookahead keeps a break that a chunk boundary cuts
# from being taken before the whole run of blank lines has been read.
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n(?=[^\S\n]*\S)")


def paragraphs(
    path: Path, *, max_chars: int | None = None, chunk_bytes: int | None = None
) -> Iterator[tuple[str, int, bool]]:
    """Stream (text, first line number, ends_paragraph) for the blank-line-separated blocks of a file.

    Text between breaks is returned verbatim (whitespace included), so line numbers can be traced.
    With `max_chars`, a paragraph longer than that is handed out in pieces (ends_paragraph False for
    all but the last), so a file without blank lines never sits in memory whole.
    """
    buffer = ""
    line = 1  # line number of buffer[0]
    for chunk in decoded_chunks(path, chunk_bytes=chunk_bytes):
        # A break not found yet can only begin in the buffer's trailing whitespace.
        scan_from = len(buffer.rstrip())
        buffer += chunk
        start = 0
        for match in _PARAGRAPH_BREAK.finditer(buffer, scan_from):
            yield buffer[start : match.start()], line, True
            line += buffer.count("\n", start, match.end())
            start = match.end()
        buffer = buffer[start:]
        if max_chars is not None and len(buffer) > max_chars:
            # Keep a tail that may be the start of a paragraph break.
            cut = len(buffer.rstrip())
            if cut > 0:
                yield buffer[:cut], line, False
                line += buffer.count("\n", 0, cut)
                buffer = buffer[cut:]
    if buffer:
        yield buffer, line, True
