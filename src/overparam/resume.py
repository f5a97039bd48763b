"""Mid-job checkpoints: a killed or preempted train job resumes where it stopped.

A job opens a ``Store`` (``steps.run_job`` does, in ``<run table>.ckpt/`` next to its table)
for the duration of its ``Experiment.run``. Every ``train_ensemble`` call made inside it is
identified by a hash of everything it is given (spec, initial params, data, masks, config,
seeds, device, check mode), so a re-run of the job, which makes the same calls in the same
order with the same arguments (every job is seeded), finds what the killed run left:

- a call that had finished: its ``TrainResult``, returned without training again;
- the call that was running: its full state at the last epoch end saved (params, optimizer
  buffers, batch-order generators, the members' divergence and stop state, the history so far,
  the kept params, steps, samples, the ledger's seconds), from which training goes on.

The state of a run at an epoch end determines everything after it, so the resumed run's
tables are bit-identical to an uninterrupted run's (tests/test_resume.py, on the CPU).

Saving is paced by wall time: at an epoch end or when a call finishes, if at least
``every_s`` seconds have passed since the last save (or since the store opened). Jobs shorter
than ``every_s`` never write anything; a killed job loses at most about ``every_s`` seconds of
work. Each save is atomic (a temporary file, then a rename), so a kill during a save leaves the
previous checkpoint. The store is keyed by the job (its config and the hash of the library code
it runs): a store left by a different config or code is discarded, not resumed. The job removes
its store once its table is written.

A job that bundles several specs (``experiments.Bundle``) also keeps each finished part's table
in its store (``save_table``, when a save is due), so a re-run skips the parts it had finished
and resumes the one that was running.

Only ``train_ensemble`` calls and a bundle's finished parts resume; work a job does outside them (closed forms, evaluation
along paths, pruning) is recomputed, which is what makes the calls' arguments match.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_path, atomic_write_text

META = "store.json"
# Test hook: SIGKILL this process right after the N-th state checkpoint it saves (1-based), so
# tests can interrupt a job at a known point (tests/test_resume.py, tests/e2e).
KILL_AFTER_ENV = "OVERPARAM_TEST_KILL_AFTER_CHECKPOINT"


@dataclass
class Store:
    root: Path
    every_s: float
    log: Any = print
    last_save: float = field(default_factory=time.perf_counter)
    saves: int = 0  # state checkpoints written by this process

    def due(self) -> bool:
        return time.perf_counter() - self.last_save >= self.every_s

    def _file(self, kind: str, key: str) -> Path:
        return self.root / f"{kind}-{key}.pt"

    def load(self, kind: str, key: str) -> Any | None:
        import torch

        path = self._file(kind, key)
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # a file we cannot read is not resumed from: start over
            self.log(f"resume: ignoring unreadable checkpoint {path.name} ({type(e).__name__})")
            return None

    def save(self, kind: str, key: str, obj: Any) -> None:
        import torch

        with atomic_path(self._file(kind, key)) as tmp:
            torch.save(obj, tmp)
        self.last_save = time.perf_counter()
        if kind == "state":
            self.saves += 1
            kill_after = os.environ.get(KILL_AFTER_ENV)
            if kill_after and self.saves >= int(kill_after):
                os.kill(os.getpid(), signal.SIGKILL)

    def drop(self, kind: str, key: str) -> None:
        self._file(kind, key).unlink(missing_ok=True)


_CURRENT: ContextVar[Store | None] = ContextVar("overparam_resume_store", default=None)


def current() -> Store | None:
    """The store of the job running in this context (None: no checkpoints)."""
    return _CURRENT.get()


@contextmanager
def job_store(root, every_s: float, key: str, log=print) -> Iterator[Store | None]:
    """Open the checkpoint store ``root`` for one job identified by ``key`` (its config and
    code). ``every_s <= 0`` turns checkpoints off (yields None). A store written under another
    key is deleted first. The caller deletes the store (``remove``) after writing its table."""
    if every_s <= 0:
        yield None
        return
    root = Path(root)
    meta = root / META
    if root.exists():
        try:
            old = json.loads(meta.read_text()).get("key")
        except (OSError, ValueError):
            old = None
        if old != key:
            log(f"resume: discarding checkpoints of another config or code version in {root}")
            shutil.rmtree(root)
        else:
            files = sorted(p.name for p in root.glob("*.pt"))
            if files:
                log(f"resume: found {len(files)} checkpoint file(s) in {root}")
    root.mkdir(parents=True, exist_ok=True)
    if not meta.exists():
        atomic_write_text(meta, json.dumps({"key": key}) + "\n")
    store = Store(root=root, every_s=float(every_s), log=log)
    token = _CURRENT.set(store)
    try:
        yield store
    finally:
        _CURRENT.reset(token)


def load_table(store: Store | None, key: str):
    """The table a bundle's part ``key`` left in ``store`` (None: none, or no store)."""
    if store is None:
        return None
    path = store.root / f"part-{key}.pkl"
    if not path.exists():
        return None
    import pandas as pd

    try:
        return pd.read_pickle(path)
    except Exception as e:  # unreadable: run the part again
        store.log(f"resume: ignoring unreadable part table {path.name} ({type(e).__name__})")
        return None


def save_table(store: Store | None, key: str, df) -> None:
    """Keep a bundle's finished part ``key``'s table in ``store`` if a save is due (the same
    pacing as the training calls' checkpoints)."""
    if store is None or not store.due():
        return
    with atomic_path(store.root / f"part-{key}.pkl") as tmp:
        df.to_pickle(tmp)
    store.last_save = time.perf_counter()


def remove(root) -> None:
    """Delete a job's store (after its table is written)."""
    shutil.rmtree(Path(root), ignore_errors=True)


def call_key(*parts: Any) -> str:
    """A hash of a training call's arguments: tensors and arrays by dtype, shape and bytes,
    mappings by sorted keys, dataclasses and scalars by their repr."""
    h = hashlib.sha256()
    _feed(h, parts)
    return h.hexdigest()[:24]


def _feed(h, obj: Any) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"A{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    elif isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=str):
            h.update(str(k).encode())
            _feed(h, obj[k])
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(f"[{len(obj)}".encode())
        for v in obj:
            _feed(h, v)
        h.update(b"]")
    else:
        h.update(repr(obj).encode())
