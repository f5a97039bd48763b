"""lottery_ticket planning: job specs, ids, config problems, schemas, aggregation."""

import subprocess
import sys

import pandas as pd
import pytest

from overparam.data import MNIST1D
from overparam.experiments import get
from overparam.experiments.lottery_ticket import VARIANTS, TicketJob

from ...conftest import with_defaults

EXP = get("lottery_ticket")


def test_ids_and_fields(tiny):
    jobs = EXP.jobs(tiny)
    assert list(jobs) == ["mlp_rewind0", "mlp_rewind12"]
    j = jobs["mlp_rewind12"]
    assert isinstance(j, TicketJob) and j.trains
    assert (j.network, j.hidden, j.rewind_step, j.seeds) == ("mlp", (16, 16), 12, (0, 1))
    assert j.data == MNIST1D(num_samples=1000, train_split=0.8, seed=42)
    assert j.inputs() == {"data": j.data}
    assert (j.optimizer, j.lr, j.momentum, j.pruning) == ("adam", 0.005, 0.0, "layerwise")
    p = j.params()
    assert p["hidden"] == [16, 16] and p["data"] == {
        "num_samples": 1000,
        "train_split": 0.8,
        "seed": 42,
    }
    assert "claims_setup" not in p and "claims" not in p


def test_two_networks_times_rewind_steps(tiny):
    tiny["networks"]["wide"] = [64, 64]
    assert list(EXP.jobs(tiny)) == ["mlp_rewind0", "mlp_rewind12", "wide_rewind0", "wide_rewind12"]
    assert EXP.jobs(tiny)["wide_rewind0"].hidden == (64, 64)


def test_adding_a_rewind_step_adds_exactly_one_spec(tiny):
    before = EXP.jobs(tiny)
    tiny["rewind_steps"].append(30)
    after = EXP.jobs(tiny)
    assert set(after) - set(before) == {"mlp_rewind30"}
    assert all(after[k] == v for k, v in before.items())


def test_a_shared_setting_changes_every_spec(tiny):
    before = EXP.jobs(tiny)
    tiny["lr"] = 0.01
    after = EXP.jobs(tiny)
    assert list(after) == list(before)
    assert all(after[k] != before[k] and after[k].lr == 0.01 for k in before)


@pytest.mark.parametrize(
    "key,value", [("match_min_remaining", 0.3), ("early_stop_remaining", [0.1, 0.9])]
)
def test_claims_setup_changes_no_spec(tiny, key, value):
    before = EXP.jobs(tiny)
    tiny["claims_setup"][key] = value
    tiny["claim_thresholds"] = {"matches_dense": {"threshold": 5.0, "reason": "a test"}}
    assert EXP.jobs(tiny) == before


def test_defaults_of_optional_keys(tiny):
    for k in ("pruning", "optimizer"):
        del tiny[k]
    j = EXP.jobs(with_defaults("lottery_ticket", tiny))["mlp_rewind0"]  # the schema's defaults
    assert (j.pruning, j.optimizer, j.momentum) == ("layerwise", "adam", 0.0)


def test_no_problems_in_a_valid_config(tiny):
    assert list(EXP.problems(tiny)) == []


def test_val_size_must_leave_training_samples(tiny):
    tiny["val_size"] = 800
    assert list(EXP.problems(tiny)) == [
        "config key 'lottery_ticket.val_size': 800 must be smaller than the 800 MNIST-1D "
        "training samples it is carved from"
    ]


def test_rewind_step_beyond_the_run(tiny):
    tiny["rewind_steps"] = [0, 36, 37]  # 600 samples / batch 100 = 6 steps x 6 epochs = 36
    assert list(EXP.problems(tiny)) == [
        "config key 'lottery_ticket.rewind_steps': step 37 is beyond the 36 optimizer steps "
        "of a run"
    ]


def test_early_stop_band_must_be_ordered(tiny):
    tiny["claims_setup"]["early_stop_remaining"] = [0.9, 0.2]
    assert list(EXP.problems(tiny)) == [
        "config key 'lottery_ticket.claims_setup.early_stop_remaining': [0.9, 0.2] must be "
        "[low, high]"
    ]


def test_schemas_differ_by_the_mask_only():
    run, metrics = EXP.run_schema, EXP.metrics_schema
    assert list(run.columns) == [*metrics.columns, "mask"]
    assert run.name == "lottery_ticket.runs" and metrics.name == "lottery_ticket.metrics"


def test_aggregate_drops_masks_and_orders_rows(tiny):
    rows = [
        dict(network="mlp", rewind_step=k, round=r, variant=v, seed=s, mask=b"\x00")
        for k in (12, 0)
        for r, vs in ((1, ("random", "ticket", "reinit")), (0, ("dense",)))
        for v in vs
        for s in (1, 0)
    ]
    df = pd.DataFrame(rows)
    out = EXP.aggregate([df.iloc[:8], df.iloc[8:]], tiny)
    assert "mask" not in out.columns and len(out) == len(df)
    assert out.index.tolist() == list(range(len(df)))
    keys = list(
        zip(out["rewind_step"], out["round"], out["variant"].map(VARIANTS.index), out["seed"])
    )
    assert keys == sorted(keys)
    assert out["variant"].iloc[:3].tolist() == ["dense", "dense", "ticket"]


def test_planning_imports_neither_torch_nor_plotting():
    code = (
        "import sys, overparam.experiments as e; e.get('lottery_ticket'); "
        "print(sorted(m for m in ('torch', 'matplotlib', 'seaborn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
