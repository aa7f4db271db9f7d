"""The torchvision sources: without torchvision, a one-line error that says how to get it."""

import sys

import pytest

from distill.tasks import TASK_SOURCES, TORCHVISION_SOURCES, load_task


@pytest.mark.parametrize("name", sorted(TORCHVISION_SOURCES))
def test_torchvision_sources_explain_a_missing_torchvision(name, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` raise ImportError
    assert name in TASK_SOURCES
    expected = rf"the '{name}' source needs torchvision \(pip install 'dass\[vision\]'\), which does not import here"
    with pytest.raises(ValueError, match=expected) as e:
        load_task(name, str(tmp_path))
    assert "\n" not in str(e.value)
