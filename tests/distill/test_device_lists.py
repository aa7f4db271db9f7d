"""distill/devices.py: --devices lists, the worker -> device assignment, and --precision (issue 23)."""

import pytest
import torch

from distill.devices import check_precision, default_devices, parse_devices, worker_device

FOUR_GPUS = ["auto", "cpu", "cuda", "cuda:0", "cuda:1", "cuda:2", "cuda:3"]


def test_devices_are_gpu_indices_or_names_in_the_order_given():
    assert parse_devices("0,1", FOUR_GPUS) == ["cuda:0", "cuda:1"]
    assert parse_devices("3, cuda:1,3", FOUR_GPUS) == ["cuda:3", "cuda:1"]
    assert parse_devices("cpu", FOUR_GPUS) == ["cpu"]


def test_no_devices_means_every_visible_gpu_else_the_cpu(monkeypatch):
    assert parse_devices(None, FOUR_GPUS) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert parse_devices("", ["auto", "cpu"]) == ["cpu"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_devices() == ["cpu"]


def test_a_device_the_machine_lacks_is_one_line_naming_it():
    with pytest.raises(ValueError, match=r"^--devices: device '4' is not available on this machine; available here: "):
        parse_devices("0,4", FOUR_GPUS)
    with pytest.raises(ValueError, match=r"^--devices: device '0' is not available .*: cpu$"):
        parse_devices("0", ["auto", "cpu"])
    with pytest.raises(ValueError, match="device 'auto'"):
        parse_devices("auto", FOUR_GPUS)


def test_workers_are_spread_round_robin_over_the_devices():
    devices = ["cuda:0", "cuda:1", "cuda:2"]
    assert [worker_device(i, devices) for i in range(7)] == [*devices, *devices, "cuda:0"]
    assert {worker_device(i, ["cpu"]) for i in range(4)} == {"cpu"}
    with pytest.raises(ValueError, match="empty"):
        worker_device(0, [])


def test_bf16_needs_cuda(monkeypatch):
    assert check_precision("fp32", "cpu") == "fp32"
    assert check_precision("bf16", "cuda:1") == "bf16"
    with pytest.raises(ValueError, match=r"^precision 'bf16' needs a CUDA device; the training device is 'cpu'"):
        check_precision("bf16", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        check_precision("bf16", "auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert check_precision("bf16", "auto") == "bf16"
    with pytest.raises(ValueError, match=r"^the precision must be one of fp32, bf16; got 'fp16'$"):
        check_precision("fp16")
