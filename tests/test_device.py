"""GPU detection without importing torch (what the Snakemake head process uses)."""

import torch

from overparam import device


def test_agrees_with_torch_on_this_machine():
    assert device.cuda_visible() == torch.cuda.is_available()
    assert (device.torch_cuda_build() is None) == (torch.version.cuda is None)
    if torch.version.cuda is not None:
        assert device.torch_cuda_build() == torch.version.cuda


def test_counts_nvidia_devices_and_honours_cuda_visible_devices(tmp_path, monkeypatch):
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"):
        (tmp_path / name).touch()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert device.nvidia_gpus(tmp_path) == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert device.nvidia_gpus(tmp_path) == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device.nvidia_gpus(tmp_path) == 0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert device.nvidia_gpus(tmp_path) == 0
