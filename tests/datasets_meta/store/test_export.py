"""Export to CSV/Parquet and import back, against every backend; the shipped meta-dataset round-trips unchanged."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
from pathlib import Path

import pytest

from datasets_meta.store import COLUMNS, Record, Result

META_V1 = Path(__file__).resolve().parents[3] / "datasets_meta" / "meta_v1.csv.gz"
EVERY = 40  # the slice of meta_v1 the round trip reads: ~480 records spread over all its sources and tasks


@pytest.fixture(scope="module")
def meta_v1_slice(tmp_path_factory) -> Path:
    """Every ``EVERY``-th record of the shipped meta-dataset, written as the exporter writes a file.

    The whole file (19k records) would take about a minute per backend; its rows are all alike in form.
    """
    with gzip.open(META_V1, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [row for i, row in enumerate(reader) if i % EVERY == 0]
    assert header == list(COLUMNS), "the shipped meta-dataset's columns are the store's columns"
    path = tmp_path_factory.mktemp("meta_v1") / "slice.csv.gz"
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as binary:
        with io.TextIOWrapper(binary, encoding="utf-8", newline="") as text:
            csv.writer(text).writerows([header, *rows])
    return path


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv", ".parquet"])
def test_export_then_import_round_trips(make_store, tmp_path, clock, suffix, make_job, ok_result):
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        pytest.skip("pyarrow is not installed")
    store = make_store("source.db")
    store.add_jobs([make_job(i) for i in range(5)])
    a, b, c = store.claim("w1", n=3)
    store.finish(a.key, ok_result(0.91, extra={"nested": {"x": [1, 2]}, "text": 'a,"b"\nc'}))
    store.finish(b.key, Result(status="diverged", val_acc=0.1, curve=[0.2, 0.1], reason="loss became NaN"))
    clock.advance(store.grace_s + 1)
    for _ in range(2):  # c: a dead worker, then two failures: gives up
        assert [job.key for job in store.claim("w2")] == [c.key]
        assert store.fail(c.key, "RuntimeError: shape mismatch")
    assert store.counts() == {"pending": 2, "running": 0, "done": 2, "failed": 1}
    path = tmp_path / f"records{suffix}"

    assert store.export(path) == 2
    done_only = make_store("done.db")
    assert done_only.import_records(path) == 2
    assert done_only.records() == store.records()

    assert store.export(path, status=None) == 5
    rebuilt = make_store("rebuilt.db")
    assert rebuilt.import_records(path) == 5
    assert rebuilt.records(status=None) == store.records(status=None)
    assert rebuilt.import_records(path) == 0
    assert not list(tmp_path.glob("*.tmp"))


def test_import_turns_running_jobs_back_to_pending(make_store, tmp_path, make_job):
    store = make_store("source.db")
    store.add_jobs([make_job(0)])
    store.claim("w1")
    store.export(tmp_path / "all.csv.gz", status=None)
    rebuilt = make_store("rebuilt.db")
    rebuilt.import_records(tmp_path / "all.csv.gz")
    record = rebuilt.get(make_job(0).key)
    assert (record["state"], record["worker"], record["attempts"]) == ("pending", None, 1)


def test_export_needs_a_known_suffix_and_import_a_real_export(store, tmp_path, make_job, ok_result):
    with pytest.raises(ValueError, match="must end in .csv.gz, .csv or .parquet"):
        store.export(tmp_path / "records.txt")
    with pytest.raises(FileNotFoundError, match="the directory .*nodir does not exist"):
        store.export(tmp_path / "nodir" / "records.csv.gz")
    with pytest.raises(FileNotFoundError):
        store.import_records(tmp_path / "missing.csv.gz")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a dass records export"):
        store.import_records(tmp_path / "other.csv")
    # a truncated or damaged export is one line, and the store keeps what it had
    store.add_jobs([make_job(i) for i in range(40)])
    for job in store.claim("w1", n=40):
        store.finish(job.key, ok_result(extra={"padding": "x" * 200}))
    store.export(tmp_path / "full.csv.gz")
    before = store.records(status=None)
    blob = (tmp_path / "full.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "noise.csv.gz").write_bytes(blob[:10] + bytes(200))
    for name in ("cut.csv.gz", "noise.csv.gz"):
        with pytest.raises(ValueError, match=f"{name} is not a readable export") as err:
            store.import_records(tmp_path / name)
        assert "\n" not in str(err.value)
    assert store.records(status=None) == before
    text = gzip.decompress(blob).decode()
    header, first, *rest = text.splitlines(keepends=True)
    columns = next(csv.reader([header]))
    cells = next(csv.reader([first]))
    cells[columns.index("val_acc")] = "abc"
    line = io.StringIO()
    csv.writer(line).writerow(cells)
    (tmp_path / "cell.csv").write_text(header + line.getvalue() + "".join(rest))
    with pytest.raises(ValueError, match=r"cell.csv record 1: the 'val_acc' column must hold a number; got 'abc'"):
        store.import_records(tmp_path / "cell.csv")


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
def test_parquet_without_pyarrow_is_a_clear_error(store, tmp_path):
    with pytest.raises(ValueError, match="Parquet needs pyarrow"):
        store.export(tmp_path / "records.parquet")


def test_the_shipped_meta_dataset_reimports_and_reexports_unchanged(make_store, meta_v1_slice, tmp_path):
    store = make_store("meta.db")
    n = store.import_records(meta_v1_slice)
    assert n > 450
    records = store.read()
    assert len(records) == n and all(r.state == "done" for r in records)
    assert all(Record.from_dict(r.to_dict()) == r for r in records)

    again = tmp_path / "again.csv.gz"
    assert store.export(again) == n
    assert again.read_bytes() == meta_v1_slice.read_bytes()  # same rows, same cells, same bytes
    rebuilt = make_store("rebuilt.db")
    assert rebuilt.import_records(again) == n
    assert rebuilt.read() == records and rebuilt.records() == store.records()
