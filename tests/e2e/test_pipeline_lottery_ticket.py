"""End-to-end: the lottery-ticket target on the tiny .test config, asserting on its tables."""

import numpy as np
import pytest
import torch
import yaml

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.config import validate
from overparam.experiments import get
from overparam.experiments.lottery_ticket import VARIANTS
from overparam.experiments.lottery_ticket import run as lt_run
from overparam.prune import Mask

from ..conftest import BASE_SCHEMA, TEST_CONFIG

pytestmark = pytest.mark.e2e

EXP = get("lottery_ticket")


@pytest.fixture(scope="module")
def cfg():
    """The lottery_ticket section as the workflow sees it (validated, defaults filled in)."""
    return validate(yaml.safe_load(TEST_CONFIG.read_text()), BASE_SCHEMA)["lottery_ticket"]


@pytest.fixture(scope="module")
def jobs(cfg):
    return EXP.jobs(cfg)


def test_outputs(pipeline_run):
    for f in [
        "figures/lottery_ticket.png",
        "figures/lottery_ticket.pdf",
        "results/lottery_ticket/metrics.parquet",
        "results/lottery_ticket/claims.parquet",
        "results/lottery_ticket/runs/mlp_rewind0.parquet",
        "results/lottery_ticket/runs/mlp_rewind20.parquet",
    ]:
        assert (pipeline_run / f).stat().st_size > 0, f


def test_metrics_table(pipeline_run, cfg):
    m = tables.read_table(
        pipeline_run / "results/lottery_ticket/metrics.parquet", EXP.metrics_schema
    )
    S, R = len(cfg["seeds"]), cfg["rounds"]
    assert len(m) == len(cfg["rewind_steps"]) * (S + 3 * R * S)
    assert sorted(m["rewind_step"].unique()) == [0, 20]
    assert not m["diverged"].any()
    t = m[m["variant"] == "ticket"].groupby(["rewind_step", "round"])
    rounds = np.tile(np.arange(1, R + 1), 2)
    # layer-wise schedule: 0.8^j for the hidden layers, 0.9^j for the output layer
    np.testing.assert_allclose(t["remaining_frac_layer1"].mean(), 0.8**rounds, atol=1 / (40 * 32))
    np.testing.assert_allclose(t["remaining_frac_layer2"].mean(), 0.8**rounds, atol=1 / (32 * 32))
    np.testing.assert_allclose(t["remaining_frac_layer3"].mean(), 0.9**rounds, atol=1 / (32 * 10))
    dense = m[m["variant"] == "dense"]
    assert (dense["remaining_frac"] == 1.0).all() and (dense["round"] == 0).all()
    assert (m["test_acc_at_stop"] > 0.15).all()  # every variant learns (chance is 0.1)
    assert (m.loc[m["variant"].isin(["dense", "ticket"]), "test_acc_at_stop"] > 0.25).all()
    assert (m["stop_step"] <= m["total_steps"]).all()
    assert set(m["variant"]) == set(VARIANTS)


def test_run_tables_carry_masks(pipeline_run, jobs):
    df = tables.read_table(
        pipeline_run / "results/lottery_ticket/runs/mlp_rewind0.parquet", EXP.run_schema
    )
    spec = lt_run.spec_of(jobs["mlp_rewind0"])
    for r in df.itertuples():
        frac, per_layer = Mask.unpack(spec, r.mask).remaining()
        assert frac[0] == pytest.approx(r.remaining_frac)
        for i in range(per_layer.shape[1]):
            assert per_layer[0, i] == pytest.approx(getattr(r, f"remaining_frac_layer{i + 1}"))
    # tickets are nested across rounds: round 2's mask lies inside round 1's
    t = df[(df["variant"] == "ticket") & (df["seed"] == 0)].set_index("round")
    m1, m2 = (Mask.unpack(spec, t.loc[j, "mask"]).weights for j in (1, 2))
    assert len(m1) == len(m2) == 3
    assert all(not (b & ~a).any() for a, b in zip(m1, m2))


def test_a_ticket_retrains_from_its_row_alone(pipeline_run, jobs):
    """A row of the pipeline's run table and the pipeline's cached MNIST-1D are enough to
    re-train that member and get its statistics back."""
    job = jobs["mlp_rewind20"]
    df = tables.read_table(
        pipeline_run / "results/lottery_ticket/runs/mlp_rewind20.parquet", EXP.run_schema
    )
    row = df[(df["variant"] == "ticket") & (df["round"] == 2) & (df["seed"] == 1)].iloc[0]
    data = pipeline_run / "results/data/mnist1d_n1000_split0.8_seed42.npz"
    assert data.exists()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the job ran (.test config: threads 1)
    try:
        again = lt_run.retrain_row(row, job, data)
    finally:
        torch.set_num_threads(threads)
    assert again["stop_step"] == row["stop_step"]
    assert again["total_steps"] == row["total_steps"]
    for c in ("test_acc_at_stop", "final_test_acc", "final_train_acc", "max_test_acc"):
        assert again[c] == pytest.approx(row[c], abs=1e-3), c  # <= 1 test sample of float noise
    assert again["val_loss_at_stop"] == pytest.approx(row["val_loss_at_stop"], rel=1e-4)


def test_claims_rows(pipeline_run):
    df = tables.read_table(pipeline_run / "results/lottery_ticket/claims.parquet", CLAIMS_SCHEMA)
    assert sorted(df["claim"]) == sorted(
        f"lottery_ticket.mlp_rewind{k}.{c}"
        for k in (0, 20)
        for c in ("matches_dense", "beats_controls", "earlier_stop")
    )
    assert df["value"].notna().all()
    assert df["note"].str.contains(r"; 0 of \d+ runs diverged$").all()  # counted, none here
    stop = df[df["claim"].str.endswith("earlier_stop")].set_index("claim")["note"]
    assert stop["lottery_ticket.mlp_rewind20.earlier_stop"].count("counted from init (+20)") == 1
    assert (df["figure"] == "figures/lottery_ticket.png").all()
