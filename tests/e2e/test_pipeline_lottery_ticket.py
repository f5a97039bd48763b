"""End-to-end: the lottery-ticket target on the tiny .test config, asserting on its tables."""

import numpy as np
import pytest
import yaml

from overparam import prune, tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.experiments import lottery_ticket as lt

from .conftest import TEST_CONFIG

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cfg():
    return yaml.safe_load(TEST_CONFIG.read_text())["lottery_ticket"]


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
        pipeline_run / "results/lottery_ticket/metrics.parquet", lt.METRICS_SCHEMA
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
    assert set(m["variant"]) == set(lt.VARIANTS)


def test_run_tables_carry_masks(pipeline_run, cfg):
    df = tables.read_table(
        pipeline_run / "results/lottery_ticket/runs/mlp_rewind0.parquet", lt.RUN_SCHEMA
    )
    spec = lt.spec_of(cfg, "mlp")
    for r in df.itertuples():
        masks = prune.unpack_mask(spec, r.mask)
        frac, _ = prune.remaining(spec, masks)
        assert frac[0] == pytest.approx(r.remaining_frac)
    # tickets are nested across rounds: round 2's mask lies inside round 1's
    t = df[(df["variant"] == "ticket") & (df["seed"] == 0)].set_index("round")
    m1, m2 = (prune.unpack_mask(spec, t.loc[j, "mask"]) for j in (1, 2))
    assert all(not (b & ~a).any() for a, b in zip(m1, m2) if a is not None)


def test_claims_rows(pipeline_run):
    df = tables.read_table(pipeline_run / "results/lottery_ticket/claims.parquet", CLAIMS_SCHEMA)
    assert sorted(df["claim"]) == sorted(
        f"lottery_ticket.mlp_rewind{k}.{c}"
        for k in (0, 20)
        for c in ("matches_dense", "beats_controls", "earlier_stop")
    )
    assert df["value"].notna().all()
    assert (df["figure"] == "figures/lottery_ticket.png").all()
