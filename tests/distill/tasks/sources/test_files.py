"""Where file-backed sources look for their data."""

from distill.tasks import resolve_data_dir


def test_resolve_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("DASS_DATA", raising=False)
    assert resolve_data_dir(None) is None
    monkeypatch.setenv("DASS_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(None) == str(tmp_path / "env")
    assert resolve_data_dir(str(tmp_path / "arg")) == str(tmp_path / "arg")
