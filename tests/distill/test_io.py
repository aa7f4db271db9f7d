"""Crash-safe writes: the old file or the new one, never half of one; the mode the umask gives."""

import json
import os
import stat

import pytest
import torch

from distill.io import write_atomic, write_json


def test_write_atomic_writes_bytes_text_json_and_tensors(tmp_path):
    write_atomic(tmp_path / "a.bin", b"\x00\x01")
    write_atomic(tmp_path / "b.txt", "text\n")
    write_json(tmp_path / "c.json", {"b": 1, "a": [2]})
    write_atomic(tmp_path / "d.pt", {"w": torch.arange(3)})
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01" and (tmp_path / "b.txt").read_text() == "text\n"
    assert json.loads((tmp_path / "c.json").read_text()) == {"a": [2], "b": 1}
    assert torch.equal(torch.load(tmp_path / "d.pt", weights_only=True)["w"], torch.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.json", "d.pt"]  # no temporary left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    write_json(path, {"kept": True})

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError, match="crash while writing"):
        write_atomic(path, {"x": Unsaveable()}, kind="torch")
    assert json.loads(path.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_the_file_gets_the_mode_open_would_give_it(tmp_path, monkeypatch):
    import distill.io

    monkeypatch.setattr(distill.io, "_UMASK", 0o022)  # read at import; pin it with the process's umask
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.txt", "x")
        with open(tmp_path / "b.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(os.stat(tmp_path / name).st_mode) for name in ("a.txt", "b.txt")}
    assert modes == {0o644}  # mkstemp alone would make 0600
