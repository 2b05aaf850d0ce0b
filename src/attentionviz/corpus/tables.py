"""Tables: JSONL, CSV/TSV, Parquet and JSON files, and Hugging Face datasets saved to disk.

Each record (row) is a document; its text column is split into sequences. The text column is
the one named by the user, else the first of `DEFAULT_TEXT_COLUMNS` present. Null, missing and
empty cells are skipped; a cell that is not a string (a number, a list) is an error that names
the row, since it usually means the wrong column was picked. A record's `title` (when it has a
string one) becomes its sequences' `source`; otherwise the source is "file:line" or "file:row N".

JSONL, CSV, Parquet and datasets stream (one batch of rows at a time); a .json file is parsed
whole, so large corpora are better given as JSONL.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from attentionviz.corpus import textio
from attentionviz.corpus.base import sha256_files
from attentionviz.corpus.text import RecordCorpus
from attentionviz.errors import CorpusError
from attentionviz.hashing import sha256_file

logger = logging.getLogger(__name__)

DEFAULT_TEXT_COLUMNS = ("text", "sentence", "content", "extract")
TITLE_COLUMN = "title"
BATCH_ROWS = 512
COLUMN_SCAN_RECORDS = 100  # a JSONL file's columns are the keys found in its first records
DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def resolve_text_column(columns: Sequence[str], requested: str | None, where: str) -> str:
    """The column to read: `requested` if the table has it, else the first default that it has."""
    shown = ", ".join(repr(c) for c in columns[:20]) + (", ..." if len(columns) > 20 else "")
    if not columns:
        raise CorpusError(f"{where} has no columns; give it a header or field names, one holding the text")
    if requested is not None:
        if requested in columns:
            return requested
        raise CorpusError(
            f"{where} has no column {requested!r}; its columns are {shown}; name one with --text-column"
        )
    for column in DEFAULT_TEXT_COLUMNS:
        if column in columns:
            logger.info("reading text column %r of %s", column, where)
            return column
    raise CorpusError(
        f"{where} has no text column (looked for {', '.join(DEFAULT_TEXT_COLUMNS)}); "
        f"its columns are {shown}; name the one to read with --text-column"
    )


def cell_text(value: Any, *, column: str, where: str) -> str | None:
    """A cell as text: a string, or None for null/NaN. Anything else is a CorpusError."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    raise CorpusError(
        f"{where}: column {column!r} holds a {type(value).__name__} ({str(value)[:40]!r}), not text; "
        f"name a column of strings with --text-column"
    )


def _title(record: dict[str, Any], text_column: str) -> str | None:
    title = record.get(TITLE_COLUMN)
    if text_column != TITLE_COLUMN and isinstance(title, str) and title.strip():
        return title.strip()
    return None


class JsonlCorpus(RecordCorpus):
    """JSON Lines: one JSON object per line (.jsonl, .ndjson). Blank lines are ignored.

    Records may differ in their keys; one without the text column counts as an empty cell.
    """

    def __init__(self, path: Path, *, split: str, text_column: str | None, language: str = "en") -> None:
        textio.check_readable_file(path)
        self.path = path
        columns: dict[str, None] = {}  # the keys of the first records, in order of appearance
        for _, record in itertools.islice(self._records(), COLUMN_SCAN_RECORDS):
            columns.update(dict.fromkeys(record))
        if not columns and next(self._records(), None) is None:
            raise CorpusError(f"corpus {path} holds no records; put one JSON object per line")
        column = resolve_text_column(list(columns), text_column, str(path))
        super().__init__(source=str(path), fmt="jsonl", split=split, text_column=column, language=language)

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for number, line in enumerate(textio.lines(self.path), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(
                    f"{self.path}:{number} is not valid JSON ({exc.msg}); each line must hold one JSON object"
                ) from exc
            if not isinstance(record, dict):
                raise CorpusError(
                    f"{self.path}:{number} holds a JSON {type(record).__name__}, not an object; "
                    f'write one object per line, e.g. {{"text": "..."}}'
                )
            yield number, record

    def documents(self) -> Iterator[tuple[int, str | None, str]]:
        column = self._text_column or ""
        for index, (number, record) in enumerate(self._records()):
            where = f"{self.path}:{number}"
            text = cell_text(record.get(column), column=column, where=where)
            yield index, text, _title(record, column) or f"{self.path.name}:{number}"

    def fingerprint(self) -> str:
        return sha256_file(self.path)


class CsvCorpus(RecordCorpus):
    """CSV (comma) or TSV (tab) with a header row; quoted cells may span lines.

    Parsed strictly: an unterminated quote is an error rather than a cell that swallows the rest.
    """

    def __init__(
        self, path: Path, *, split: str, text_column: str | None, delimiter: str = ",", language: str = "en"
    ) -> None:
        textio.check_readable_file(path)
        # Long texts (articles) exceed csv's default 128 KiB field limit; the limit is process-wide.
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
        self.path = path
        self.delimiter = delimiter
        header = next(self._rows(), None)
        columns = [c.strip() for c in header[1]] if header is not None else []
        if not any(columns):
            raise CorpusError(f"{path} has no header row; put the column names on its first line")
        column = resolve_text_column(columns, text_column, str(path))
        self._column_index = columns.index(column)
        self._title_index = (
            columns.index(TITLE_COLUMN) if TITLE_COLUMN in columns and column != TITLE_COLUMN else None
        )
        fmt = "tsv" if delimiter == "\t" else "csv"
        super().__init__(source=str(path), fmt=fmt, split=split, text_column=column, language=language)

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(textio.lines(self.path), delimiter=self.delimiter, strict=True)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise CorpusError(
                    f"{self.path}:{start} is not valid CSV ({exc}); fix or re-export the file"
                ) from exc
            yield start, row

    def documents(self) -> Iterator[tuple[int, str | None, str]]:
        rows = self._rows()
        next(rows)  # the header
        title_index = self._title_index
        index = 0
        for number, row in rows:
            if not row:  # a blank line between records
                continue
            text = row[self._column_index] if self._column_index < len(row) else None
            title = row[title_index].strip() if title_index is not None and title_index < len(row) else ""
            yield index, text, title or f"{self.path.name}:{number}"
            index += 1

    def fingerprint(self) -> str:
        return sha256_file(self.path)


class ParquetCorpus(RecordCorpus):
    """A Parquet file with a string column."""

    def __init__(self, path: Path, *, split: str, text_column: str | None, language: str = "en") -> None:
        textio.check_readable_file(path)
        self.path = path
        schema = self._file().schema_arrow
        column = resolve_text_column(list(schema.names), text_column, str(path))
        _check_string_type(schema.field(column).type, column, str(path))
        title = schema.get_field_index(TITLE_COLUMN)
        self._title = (
            TITLE_COLUMN
            if column != TITLE_COLUMN and title >= 0 and _is_string(schema.field(title).type)
            else None
        )
        super().__init__(source=str(path), fmt="parquet", split=split, text_column=column, language=language)

    def _file(self) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise CorpusError(f"{self.path} is not a readable Parquet file ({exc}); re-export it") from exc

    def documents(self) -> Iterator[tuple[int, str | None, str]]:
        column = self._text_column or ""
        columns = [column] + ([self._title] if self._title else [])
        index = 0
        for batch in self._batches(columns):
            texts = batch.column(0).to_pylist()
            titles = batch.column(1).to_pylist() if self._title else [None] * len(texts)
            for text, title in zip(texts, titles, strict=True):
                yield index, text, (title or "").strip() or f"{self.path.name}:row {index + 1}"
                index += 1

    def _batches(self, columns: list[str]) -> Iterator[Any]:
        import pyarrow as pa

        batches = self._file().iter_batches(batch_size=BATCH_ROWS, columns=columns)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise CorpusError(f"{self.path} is damaged ({exc}); re-export the Parquet file") from exc
            yield batch

    def count_documents(self) -> int:
        return int(self._file().metadata.num_rows)

    def fingerprint(self) -> str:
        return sha256_file(self.path)


def _is_string(arrow_type: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return bool(
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
        or pa.types.is_null(arrow_type)
    )


def _check_string_type(arrow_type: Any, column: str, where: str) -> None:
    if not _is_string(arrow_type):
        raise CorpusError(
            f"{where}: column {column!r} holds {arrow_type}, not text; name a column of strings with --text-column"
        )


class JsonCorpus(RecordCorpus):
    """A .json file: a list of records, a list of strings, or an object mapping ids to records.

    For an object of records, each key is its record's `source` unless the record has a title.
    """

    def __init__(
        self,
        path: Path,
        *,
        split: str,
        text_column: str | None,
        language: str = "en",
        source: str | None = None,
    ) -> None:
        textio.check_readable_file(path)
        self.path = path
        data = self._load()
        first = next(iter(data.values() if isinstance(data, dict) else data), None)
        if first is None:
            raise CorpusError(f"corpus {path} holds no records; give it a list of records or of strings")
        if isinstance(first, str):
            if text_column is not None:
                raise CorpusError(f"{path} is a list of strings, which has no columns; drop --text-column")
            column = None
        else:
            column = resolve_text_column(list(first), text_column, str(path))
        super().__init__(
            source=source or str(path), fmt="json", split=split, text_column=column, language=language
        )

    def _load(self) -> list[Any] | dict[str, Any]:
        text = "".join(textio.decoded_chunks(self.path))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorpusError(
                f"{self.path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); fix the file"
            ) from exc
        items = data.values() if isinstance(data, dict) else data if isinstance(data, list) else None
        if items is None or not (
            all(isinstance(item, dict) for item in items) or all(isinstance(item, str) for item in items)
        ):
            raise CorpusError(
                f"{self.path} is not a list of records, a list of strings or an object of records; "
                f"convert it to JSONL with one object per line"
            )
        return data  # type: ignore[no-any-return]

    def documents(self) -> Iterator[tuple[int, str | None, str]]:
        data = self._load()
        keyed = data.items() if isinstance(data, dict) else ((None, item) for item in data)
        column = self._text_column
        for index, (key, item) in enumerate(keyed):
            label = f"{self.path.name}:item {index + 1}" if key is None else str(key)
            if column is None:
                yield index, item if isinstance(item, str) else None, label
                continue
            where = f"{self.path} record {key if key is not None else index + 1}"
            text = cell_text(item.get(column), column=column, where=where) if isinstance(item, dict) else None
            yield index, text, (_title(item, column) if isinstance(item, dict) else None) or label

    def fingerprint(self) -> str:
        return sha256_file(self.path)


def is_saved_dataset(path: Path) -> bool:
    """Whether a folder looks like `Dataset.save_to_disk` / `DatasetDict.save_to_disk` output."""
    return path.is_dir() and any((path / marker).is_file() for marker in DATASET_MARKERS)


class DatasetCorpus(RecordCorpus):
    """A Hugging Face dataset saved with `save_to_disk` (memory-mapped Arrow, read in batches)."""

    def __init__(self, path: Path, *, split: str, text_column: str | None, language: str = "en") -> None:
        self.path = path
        dataset = self._load()
        column = resolve_text_column(list(dataset.column_names), text_column, str(path))
        feature = dataset.features[column]
        dtype = getattr(feature, "dtype", None)
        if dtype not in ("string", "large_string"):
            raise CorpusError(
                f"{path}: column {column!r} holds {feature}, not text; name a column of strings with --text-column"
            )
        self._title = (
            TITLE_COLUMN
            if column != TITLE_COLUMN
            and getattr(dataset.features.get(TITLE_COLUMN), "dtype", None) == "string"
            else None
        )
        super().__init__(
            source=str(path), fmt="hf-dataset", split=split, text_column=column, language=language
        )

    def _load(self) -> Any:
        try:
            import datasets
        except ImportError as exc:
            raise CorpusError(
                f"{self.path} is a Hugging Face dataset; reading it needs `pip install datasets`"
            ) from exc
        try:
            loaded = datasets.load_from_disk(str(self.path))
        except (FileNotFoundError, ValueError, OSError, KeyError, TypeError) as exc:
            raise CorpusError(
                f"{self.path} is not a readable saved dataset ({exc}); save it again with `save_to_disk`"
            ) from exc
        if isinstance(loaded, datasets.DatasetDict):
            if len(loaded) != 1:
                names = ", ".join(loaded)
                raise CorpusError(
                    f"{self.path} holds the splits {names}; point at one of them, e.g. {self.path / next(iter(loaded))}"
                )
            loaded = next(iter(loaded.values()))
        return loaded

    def documents(self) -> Iterator[tuple[int, str | None, str]]:
        column = self._text_column or ""
        columns = [column] + ([self._title] if self._title else [])
        index = 0
        for batch in self._load().select_columns(columns).iter(batch_size=BATCH_ROWS):
            titles = batch[self._title] if self._title else [None] * len(batch[column])
            for text, title in zip(batch[column], titles, strict=True):
                yield index, text, (title or "").strip() or f"{self.path.name}:row {index + 1}"
                index += 1

    def count_documents(self) -> int:
        return int(self._load().num_rows)

    def fingerprint(self) -> str:
        files = sorted((p for p in self.path.rglob("*") if p.is_file()), key=lambda p: p.as_posix())
        return sha256_files(self.path, files)
