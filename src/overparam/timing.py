"""Where a job's time goes: seconds of optimizer steps and of evaluation, summed over every
``train_ensemble`` and ``evaluate`` call made while a ``ledger()`` block is open.

    with timing.ledger() as t:
        run_the_job()
    t.train_s, t.eval_s, t.train_flops  # -> the run table's provenance, then results/benchmarks/jobs.parquet

Torch-free, so the steps of numpy-only jobs can open a ledger without importing torch. Blocks
nest (every open ledger is charged) and are per thread/task (a ``ContextVar``); with none
open, charging costs one lookup.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Ledger:
    train_s: float = 0.0  # optimizer steps (TrainResult.train_s: no evaluation, no checkpoints)
    eval_s: float = 0.0  # full-batch loss/accuracy passes (overparam.train.evaluate)
    train_flops: float = 0.0  # GEMM FLOPs of those optimizer steps (TrainResult.flops)
    train_calls: int = 0
    eval_calls: int = 0

    @property
    def eval_share(self) -> float:
        """Evaluation over evaluation + optimizer steps (NaN when neither ran)."""
        total = self.train_s + self.eval_s
        return self.eval_s / total if total > 0 else float("nan")


_OPEN: ContextVar[tuple[Ledger, ...]] = ContextVar("overparam_timing_ledgers", default=())


@contextmanager
def ledger() -> Iterator[Ledger]:
    """Open a ledger for the duration of the block; yields it (read it after the block)."""
    book = Ledger()
    token = _OPEN.set(_OPEN.get() + (book,))
    try:
        yield book
    finally:
        _OPEN.reset(token)


def recording() -> bool:
    """Whether any ledger is open (callers may skip a device sync needed only for timing)."""
    return bool(_OPEN.get())


def charge(kind: str, seconds: float, flops: float = 0.0) -> None:
    """Add ``seconds`` of ``kind`` ("train": a train_ensemble call's optimizer steps, which
    made ``flops`` GEMM FLOPs; "eval": an evaluate call) to every open ledger."""
    if kind not in ("train", "eval"):
        raise ValueError(f"kind must be 'train' or 'eval', got {kind!r}")
    if flops and kind != "train":
        raise ValueError("only optimizer steps ('train') are charged FLOPs")
    for book in _OPEN.get():
        setattr(book, f"{kind}_s", getattr(book, f"{kind}_s") + seconds)
        setattr(book, f"{kind}_calls", getattr(book, f"{kind}_calls") + 1)
        book.train_flops += flops
