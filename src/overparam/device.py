"""Where and how a job trains: whether a CUDA GPU is there (answered without importing
torch), and the device a job resolves (``resolve_device``, with torch, imported only then).

The Snakemake head process plans the DAG (and reserves ``gpu`` resources for training jobs)
without importing torch, which takes seconds and, on a GPU, initialises CUDA. A job that
trains resolves its device with torch itself (``resolve_device``), which has the last word.
These live here, not in ``overparam.train``, so that a job that does not train runs none of
the trainer's code (``overparam.codehash``: editing the trainer re-runs only jobs that train).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def torch_cuda_build() -> str | None:
    """The CUDA version torch was built for (None: a CPU build, or no torch), read from
    ``torch/version.py``."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return None
    version = Path(spec.origin).with_name("version.py")
    if not version.exists():
        return None
    m = re.search(r"^cuda\b[^=\n]*=\s*['\"]([^'\"]+)['\"]", version.read_text(), re.MULTILINE)
    return m.group(1) if m else None


def nvidia_gpus(dev: Path = Path("/dev")) -> int:
    """NVIDIA devices this process may use: /dev/nvidia<N>, limited by CUDA_VISIBLE_DEVICES."""
    n = sum(1 for p in dev.glob("nvidia*") if re.fullmatch(r"nvidia\d+", p.name))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip() not in ("", "-1")]
        n = min(n, len(ids))
    return n


def cuda_visible() -> bool:
    """Torch is a CUDA build and at least one NVIDIA GPU is visible."""
    return torch_cuda_build() is not None and nvidia_gpus() > 0


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" -> cuda if available else cpu; "cuda" without CUDA is a ValueError."""
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(str(device))
        except RuntimeError as e:
            raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {str(device)!r} requested but CUDA is not available to torch "
            f"{torch.__version__} (CPU-only build or no GPU visible); use device 'auto' or 'cpu'"
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {str(device)!r}: use 'auto', 'cpu' or 'cuda'")
    return dev


def matmul_peak_gflops(dev: torch.device, sizes: Sequence[int] = (1024,), reps: int = 5) -> float:
    """Best GFLOP/s of float32 ``torch.mm`` on square matrices of each size, at torch's current
    thread count (inputs made and one product warmed up outside the timer): the machine's
    matmul peak that a job's GEMM FLOPs per second are compared with."""
    import time

    import torch

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    best = 0.0
    g = torch.Generator().manual_seed(0)
    for n in sizes:
        a = torch.randn(n, n, generator=g).to(dev)
        b = torch.randn(n, n, generator=g).to(dev)
        out = torch.empty(n, n, device=dev)
        torch.mm(a, b, out=out)
        sync()
        for _ in range(reps):
            t = time.perf_counter()
            torch.mm(a, b, out=out)
            sync()
            best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best
