"""Mid-job checkpoints (overparam.resume): an interrupted train_ensemble call, run again in the
same job store, continues from its last epoch-end state, and its result equals, bit for bit, the
result of a run that was never interrupted. Interruptions are simulated in-process (an exception
raised right after the n-th checkpoint) and, for the four kinds of job the issue names, with a
real SIGKILL of a subprocess through the test hook ``OVERPARAM_TEST_KILL_AFTER_CHECKPOINT``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from overparam import resume, timing
from overparam.models import MLPSpec, init_mlp_ensemble
from overparam.train import TrainConfig, train_ensemble

from .test_train import _assert_same_result, spec_for, toy_data

EVERY_EPOCH = 1e-9  # seconds between checkpoints: one at every epoch end


class Interrupted(Exception):
    pass


def _interrupt_after(monkeypatch, n: int) -> None:
    """Raise Interrupted right after the n-th state checkpoint is written."""
    real = resume.Store.save

    def save(self, kind, key, obj):
        real(self, kind, key, obj)
        if kind == "state" and self.saves >= n:
            raise Interrupted

    monkeypatch.setattr(resume.Store, "save", save)


def _interrupted(monkeypatch, root, after: int, spec, params, data, cfg, seeds, **kw) -> None:
    """Train in the store ``root`` and stop right after the ``after``-th checkpoint."""
    _interrupt_after(monkeypatch, after)
    with pytest.raises(Interrupted):
        with resume.job_store(root, EVERY_EPOCH, key="job"):
            train_ensemble(spec, params, data, cfg, seeds, **kw)
    monkeypatch.undo()


CASES = {
    "sgd_momentum": dict(cfg=dict(epochs=7, batch_size=20, lr=0.05, momentum=0.9)),
    "adam": dict(cfg=dict(epochs=6, batch_size=32, lr=0.01, optimizer="adam")),
    "linear_decay_wd": dict(
        cfg=dict(
            epochs=6,
            batch_size=16,
            lr=0.1,
            momentum=0.9,
            weight_decay=1e-3,
            lr_schedule="linear",
            checkpoint_steps=(0, 7, 30),
        )
    ),
    # member 1 diverges at its first step, member 2 is frozen by the stop rule mid-run
    "divergence_and_stop": dict(
        cfg=dict(epochs=8, batch_size=24, lr=(0.05, 1e5, 0.3), stop_train_acc=0.99)
    ),
    "masked": dict(cfg=dict(epochs=6, batch_size=24, lr=0.05, momentum=0.9), masked=True),
    "deferred_checks": dict(cfg=dict(epochs=6, batch_size=24, lr=(0.05, 1e5, 0.05)), defer=True),
    "mse_eval_every": dict(cfg=dict(epochs=9, batch_size=16, lr=0.05, loss="mse", eval_every=2)),
}


def _setup(case):
    mse = case["cfg"].get("loss") == "mse"
    spec = spec_for(mse=mse)
    cfg = TrainConfig(**case["cfg"])
    k = len(cfg.lr) if isinstance(cfg.lr, tuple) else 3
    seeds = list(range(10, 10 + k))
    params = init_mlp_ensemble(spec, seeds)
    masks = None
    if case.get("masked"):
        g = torch.Generator().manual_seed(5)
        masks = [
            (torch.rand(p.shape, generator=g) > 0.4).float() if p.dim() == 3 else None
            for p in params
        ]
    kw = dict(masks=masks, defer_checks=case.get("defer"))
    return spec, params, toy_data(mse=mse), cfg, seeds, kw


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("after", [1, 3])
def test_interrupted_call_resumes_bit_identical(name, after, tmp_path, monkeypatch):
    spec, params, data, cfg, seeds, kw = _setup(CASES[name])
    reference = train_ensemble(spec, params, data, cfg, seeds, **kw)
    _interrupted(monkeypatch, tmp_path / "ckpt", after, spec, params, data, cfg, seeds, **kw)
    assert len(list((tmp_path / "ckpt").glob("state-*.pt"))) == 1
    lines = []
    with resume.job_store(tmp_path / "ckpt", EVERY_EPOCH, key="job", log=lines.append):
        resumed = train_ensemble(spec, params, data, cfg, seeds, log=lines.append, **kw)
    assert any(f"continues from epoch {after} " in line for line in lines), lines
    _assert_same_result(resumed, reference)
    # the call's state is gone, its result kept until the job removes the store
    assert not list((tmp_path / "ckpt").glob("state-*.pt"))
    assert len(list((tmp_path / "ckpt").glob("result-*.pt"))) == 1


def test_finished_call_is_read_back_and_charges_the_ledger(tmp_path):
    spec, params, data, cfg, seeds, kw = _setup(CASES["adam"])
    with resume.job_store(tmp_path / "s", EVERY_EPOCH, key="job"):
        first = train_ensemble(spec, params, data, cfg, seeds)
    lines = []
    with resume.job_store(tmp_path / "s", EVERY_EPOCH, key="job"), timing.ledger() as spent:
        again = train_ensemble(spec, params, data, cfg, seeds, log=lines.append)
    assert any("had finished before" in line for line in lines)
    _assert_same_result(again, first)
    assert spent.train_s == pytest.approx(first.train_s) and spent.train_calls == 1


def test_a_different_call_does_not_resume_from_anothers_state(tmp_path, monkeypatch):
    spec, params, data, cfg, seeds, kw = _setup(CASES["sgd_momentum"])
    _interrupted(monkeypatch, tmp_path / "s", 2, spec, params, data, cfg, seeds)
    other = TrainConfig(**{**CASES["sgd_momentum"]["cfg"], "lr": 0.06})
    lines = []
    with resume.job_store(tmp_path / "s", EVERY_EPOCH, key="job", log=lines.append):
        res = train_ensemble(spec, params, data, other, seeds, log=lines.append)
    assert not any("continues from" in line or "had finished" in line for line in lines)
    _assert_same_result(res, train_ensemble(spec, params, data, other, seeds))


def test_store_of_another_job_key_is_discarded(tmp_path):
    root = tmp_path / "s"
    with resume.job_store(root, EVERY_EPOCH, key="old") as store:
        store.save("result", "abc", {"x": 1})
    lines = []
    with resume.job_store(root, EVERY_EPOCH, key="new", log=lines.append) as store:
        assert store.load("result", "abc") is None
    assert any("discarding" in line for line in lines)
    assert json.loads((root / resume.META).read_text()) == {"key": "new"}


def test_off_and_pacing(tmp_path):
    with resume.job_store(tmp_path / "off", 0, key="k") as store:
        assert store is None and resume.current() is None
    assert not (tmp_path / "off").exists()
    spec, params, data, cfg, seeds, kw = _setup(CASES["adam"])
    with resume.job_store(tmp_path / "slow", 3600, key="k"):
        train_ensemble(spec, params, data, cfg, seeds)  # shorter than the interval: no file
    assert not list((tmp_path / "slow").glob("*.pt"))
    resume.remove(tmp_path / "slow")
    assert not (tmp_path / "slow").exists()


def test_unreadable_checkpoint_is_ignored(tmp_path, monkeypatch):
    spec, params, data, cfg, seeds, kw = _setup(CASES["sgd_momentum"])
    _interrupted(monkeypatch, tmp_path / "s", 2, spec, params, data, cfg, seeds)
    (state,) = (tmp_path / "s").glob("state-*.pt")
    state.write_bytes(b"not a checkpoint")
    lines = []
    with resume.job_store(tmp_path / "s", EVERY_EPOCH, key="job", log=lines.append):
        res = train_ensemble(spec, params, data, cfg, seeds)
    assert any("ignoring unreadable" in line for line in lines)
    _assert_same_result(res, train_ensemble(spec, params, data, cfg, seeds))


def test_call_key_sees_values_not_identity():
    a = torch.arange(6.0).view(2, 3)
    assert resume.call_key(a, {"x": np.ones(3)}) == resume.call_key(a.clone(), {"x": np.ones(3)})
    assert resume.call_key(a) != resume.call_key(a.double())
    assert resume.call_key(a) != resume.call_key(a.view(3, 2))
    b = a.clone()
    b[1, 2] = 5.5
    assert resume.call_key(a) != resume.call_key(b)


# ----------------------------------------------------------------------------- real SIGKILL

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from overparam import resume
    from overparam.train import train_ensemble
    from tests.test_resume import CASES, _setup
    spec, params, data, cfg, seeds, kw = _setup(CASES[sys.argv[1]])
    lines = []
    with resume.job_store(sys.argv[2], 1e-9, key="job", log=lines.append):
        res = train_ensemble(spec, params, data, cfg, seeds, log=lines.append, **kw)
    torch.save(res, sys.argv[3])
    print("\\n".join(lines))
    """
)


@pytest.mark.parametrize("name", ["sgd_momentum", "adam", "masked", "divergence_and_stop"])
def test_sigkilled_process_resumes_bit_identical(name, tmp_path):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    cmd = [sys.executable, "-c", SCRIPT, name, str(tmp_path / "ckpt"), str(tmp_path / "out.pt")]
    killed = subprocess.run(cmd, env={**env, resume.KILL_AFTER_ENV: "3"}, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert not (tmp_path / "out.pt").exists()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    assert "continues from epoch 3 " in done.stdout, done.stdout
    spec, params, data, cfg, seeds, kw = _setup(CASES[name])
    _assert_same_result(
        torch.load(tmp_path / "out.pt", weights_only=False),
        train_ensemble(spec, params, data, cfg, seeds, **kw),
    )


def test_resume_is_a_cpu_path_over_float64_too(tmp_path, monkeypatch):
    spec = MLPSpec(8, (16,), 3)
    params = init_mlp_ensemble(spec, [0, 1], dtype=torch.float64)
    data = {k: (v.double() if v.is_floating_point() else v) for k, v in toy_data().items()}
    cfg = TrainConfig(epochs=5, batch_size=32, lr=0.05, momentum=0.5)
    reference = train_ensemble(spec, params, data, cfg, [0, 1])
    _interrupted(monkeypatch, tmp_path / "s", 2, spec, params, data, cfg, [0, 1])
    with resume.job_store(tmp_path / "s", EVERY_EPOCH, key="job"):
        _assert_same_result(train_ensemble(spec, params, data, cfg, [0, 1]), reference)
