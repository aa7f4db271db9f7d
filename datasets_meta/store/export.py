"""Records to and from files for sharing: CSV (optionally gzipped) always, Parquet when pyarrow imports.

A file holds the flat form of :class:`distill.records.Record` (one row per record, the columns of
:mod:`datasets_meta.store.columns`); JSON columns are JSON text with sorted keys and an empty cell is None. The same
records always give the same bytes (no time stamp or file name in the gzip header), so a re-export of an import is
identical to the file it came from.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets_meta.store.columns import COLUMN_KINDS, COLUMNS, encode_value
from distill.records import Record


def check_export_path(path: Path) -> str:
    """The file format of an export path (``"csv"`` or ``"parquet"``), after checking its directory exists."""
    fmt = file_format(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot export to {path}: the directory {path.parent} does not exist")
    return fmt


def write_export(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Write flat records to ``path`` through a temporary file, so an interrupted export leaves no truncated file."""
    fmt = check_export_path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        if fmt == "parquet":
            _write_parquet(rows, tmp)
        else:
            _write_csv(rows, tmp, compress=path.name.endswith(".gz"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_export(path: Path) -> list[Record]:
    """The records of an export; a ``ValueError`` (one line, naming the file and the record) if it is not one."""
    if not path.is_file():
        raise FileNotFoundError(f"no records file at {path}")
    raw_rows = _read_parquet(path) if file_format(path) == "parquet" else _read_csv(path)
    records = []
    for i, raw in enumerate(raw_rows, start=1):
        try:
            records.append(Record.from_dict({name: decode_cell(name, raw[name]) for name in COLUMNS}))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path} record {i}: {e}") from None
    return records


def file_format(path: Path) -> str:
    name = path.name
    if name.endswith(".parquet"):
        _pyarrow()
        return "parquet"
    if name.endswith(".csv.gz") or name.endswith(".csv"):
        return "csv"
    raise ValueError(f"a records file must end in .csv.gz, .csv or .parquet; got {name!r}")


def decode_cell(name: str, value: Any) -> Any:
    """A CSV cell (text) or Parquet value back to the column's Python value; an empty CSV cell is None."""
    kind, nullable = COLUMN_KINDS[name]
    if value is None or (value == "" and (nullable or kind != "text")):
        if not nullable:
            raise ValueError(f"the {name!r} column is empty")
        return None
    try:
        if kind == "int":
            return int(value)
        if kind == "real":
            return float(value)
        if kind == "json":
            return json.loads(value) if isinstance(value, str) else value
    except (TypeError, ValueError):  # json.JSONDecodeError is a ValueError
        what = {"int": "a whole number", "real": "a number", "json": "JSON"}[kind]
        raise ValueError(f"the {name!r} column must hold {what}; got {str(value)[:60]!r}") from None
    return str(value)


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("Parquet needs pyarrow (pip install 'dass[parquet]'); or use a .csv.gz path") from None
    return pa, pq


def _write_csv(rows: Sequence[dict[str, Any]], path: Path, compress: bool) -> None:
    with open(path, "wb") as raw:
        # mtime=0 and no file name in the gzip header: the same records give the same bytes.
        binary = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") if compress else raw
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(["" if (v := encode_value(name, row[name])) is None else v for name in COLUMNS])
        text.flush()
        text.detach()  # leave the binary file open: it is closed below, after the gzip trailer
        if compress:
            binary.close()
        raw.flush()
        os.fsync(raw.fileno())


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            _check_columns(path, reader.fieldnames or [])
            return list(reader)
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError, csv.Error) as e:
        reason = "it ends early (truncated?)" if isinstance(e, EOFError) else " ".join(str(e).split())[:200]
        raise ValueError(f"{path} is not a readable export: {reason}") from None


def _write_parquet(rows: Sequence[dict[str, Any]], path: Path) -> None:
    pa, pq = _pyarrow()
    types = {"text": pa.string(), "int": pa.int64(), "real": pa.float64(), "json": pa.string()}
    schema = pa.schema([(name, types[kind]) for name, (kind, _) in COLUMN_KINDS.items()])
    columns = {name: [encode_value(name, row[name]) for row in rows] for name in COLUMNS}
    pq.write_table(pa.table(columns, schema=schema), path)


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    pa, pq = _pyarrow()
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(f"{path} is not a readable export: {' '.join(str(e).split())[:200]}") from None
    _check_columns(path, table.column_names)
    return table.to_pylist()


def _check_columns(path: Path, names: Sequence[str]) -> None:
    missing = [c for c in COLUMNS if c not in names]
    unknown = [c for c in names if c not in COLUMN_KINDS]
    if missing or unknown:
        raise ValueError(
            f"{path} is not a dass records export: missing columns {missing}, unknown columns {unknown} "
            "(was it written by another dass version?)"
        )
