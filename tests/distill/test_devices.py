"""distill/devices.py: a device is accepted when this machine has it (issue 22, item 6)."""

import pytest
import torch

from distill.devices import available_devices, check_device


@pytest.fixture
def two_gpus_no_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_a_machine_with_two_gpus_offers_each(two_gpus_no_mps):
    assert available_devices() == ["auto", "cpu", "cuda", "cuda:0", "cuda:1"]
    assert check_device("cuda:1") == "cuda:1" and check_device("auto") == "auto"
    with pytest.raises(
        ValueError,
        match=r"^device 'cuda:2' is not available on this machine; available here: auto, cpu, cuda, cuda:0, cuda:1$",
    ):
        check_device("cuda:2")
    with pytest.raises(ValueError, match=r"^device 'mps' is not available on this machine"):
        check_device("mps")


def test_a_cpu_machine_names_what_it_has(cpu_only):
    assert available_devices() == ["auto", "cpu"]
    with pytest.raises(ValueError, match=r"device 'cuda': no CUDA device is available here; .*auto, cpu"):
        check_device("cuda")
    with pytest.raises(ValueError, match=r"device 'mps' is not available on this machine; available here: auto, cpu$"):
        check_device("mps")
    with pytest.raises(ValueError, match=r"device 'gpu' is not a device name like 'cpu', 'cuda' or 'cuda:0'"):
        check_device("gpu")
