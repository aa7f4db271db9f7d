"""SearchConfig's --devices and --precision (issue 23): checked up front."""

import pytest
import torch

from search.config import RESUMABLE, SearchConfig


def _config(tmp_path, **kw):
    return SearchConfig(task="digits", teacher="cnn-s", out=str(tmp_path), **kw)


def test_defaults_train_as_before_on_a_machine_without_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = _config(tmp_path)
    assert config.precision == "fp32" and config.devices is None and config.device_list is None
    assert config.to_dict()["precision"] == "fp32"
    assert _config(tmp_path, devices="cpu").device_list == ["cpu"]


def test_a_pool_spreads_over_every_visible_gpu_unless_told(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert _config(tmp_path).device_list == ["cuda:0", "cuda:1"]
    assert _config(tmp_path, devices="1").device_list == ["cuda:1"]
    assert _config(tmp_path, device="cpu").device_list is None  # a named device keeps every training there
    assert _config(tmp_path, precision="bf16").precision == "bf16"


def test_bf16_and_missing_gpus_are_refused_up_front(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^precision 'bf16' needs a CUDA device"):
        _config(tmp_path, precision="bf16")
    with pytest.raises(ValueError, match=r"^--devices: device '0' is not available on this machine"):
        _config(tmp_path, devices="0")


def test_precision_may_not_change_on_resume():
    assert "precision" not in RESUMABLE  # a run's records are all of one precision
