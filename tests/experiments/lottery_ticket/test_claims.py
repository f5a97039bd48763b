"""lottery_ticket claims from known tables, and the figure of a tiny run."""

import copy

import pandas as pd
import pytest

from overparam.claims import claims_frame
from overparam.experiments import CheckContext, get
from overparam.experiments.lottery_ticket import VARIANTS
from overparam.experiments.lottery_ticket.claims import job_values, summary

from .conftest import TINY

EXP = get("lottery_ticket")
FRACS = [1.0, 0.8, 0.4, 0.15, 0.05]
ACC = {
    "dense": [0.70] * 5,
    "ticket": [0, 0.71, 0.69, 0.66, 0.60],
    "reinit": [0, 0.70, 0.66, 0.60, 0.50],
    "random": [0, 0.70, 0.65, 0.62, 0.52],
}
STOP = {
    "dense": [500] * 5,
    "ticket": [0, 400, 300, 900, 1000],
    "reinit": [0] * 5,
    "random": [0] * 5,
}


def _metrics(acc: dict, stop: dict, fracs, rewind_step=0) -> pd.DataFrame:
    rows = []
    for v in VARIANTS:
        for j, f in enumerate(fracs):
            if (v == "dense") != (j == 0):
                continue
            for s in (0, 1):
                rows.append(
                    dict(
                        network="mlp",
                        rewind_step=rewind_step,
                        round=j,
                        variant=v,
                        seed=s,
                        remaining_frac=f,
                        test_acc_at_stop=acc[v][j] + 0.001 * s,
                        stop_step=stop[v][j],
                        diverged=False,
                    )
                )
    return pd.DataFrame(rows)


def test_summary_means_and_sds():
    s = summary(_metrics(ACC, STOP, FRACS)).set_index(["round", "variant"])
    assert s.loc[(2, "ticket"), "acc_mean"] == pytest.approx(0.6905)
    assert s.loc[(2, "ticket"), "acc_sd"] == pytest.approx(0.001 / 2**0.5)
    assert s.loc[(0, "dense"), "runs"] == 2 and s.loc[(0, "dense"), "diverged"] == 0


def test_claim_values_from_a_known_table():
    v = job_values(_metrics(ACC, STOP, FRACS), copy.deepcopy(TINY))[("mlp", 0)]
    assert v["matches_dense_pp"] == pytest.approx(-1.0)  # worst round with >= 20%: 0.69 vs 0.70
    # below 20%: ticket - reinit = (6 + 10) / 2 = 8 pp, ticket - random = (4 + 8) / 2 = 6 pp
    assert v["beats_controls_pp"] == pytest.approx(6.0)
    assert v["stop_ratio"] == pytest.approx(350 / 500)
    assert v["rounds_hi"] == 2 and v["rounds_lo"] == 2 and v["rounds_mid"] == 2
    assert v["min_remaining"] == 0.05


def test_claims_name_the_job_the_figure_and_the_scale():
    m = pd.concat([_metrics(ACC, STOP, FRACS, k) for k in (0, 12)], ignore_index=True)
    ctx = CheckContext(scale="tiny", figure="where/the/figure.png", resamples=50)
    df = claims_frame(EXP.check(m, TINY, ctx))
    assert df["claim"].tolist() == [
        f"lottery_ticket.mlp_rewind{k}.{c}"
        for k in (0, 12)
        for c in ("matches_dense", "beats_controls", "earlier_stop")
    ]
    assert (df["figure"] == "where/the/figure.png").all() and (df["scale"] == "tiny").all()
    assert df["value"].tolist()[:3] == pytest.approx([-1.0, 6.0, 0.7])
    assert df["holds"].tolist()[:3] == [False, True, True]  # thresholds: >= 0 in TINY
    assert df["note"].iloc[0] == (
        "mlp_rewind0: dense acc 0.700, dense stop step 500; 2 rounds with >= 0.2 remaining"
    )
    assert df["note"].iloc[1].endswith("2 rounds below, down to 0.050 remaining")
    assert df["note"].iloc[2].endswith("2 rounds with remaining in [0.2, 1.0]")


def test_no_sparse_round_leaves_beats_controls_undefined():
    v = job_values(_metrics(ACC, STOP, [1.0, 0.8, 0.4]), TINY)[("mlp", 0)]
    assert v["beats_controls_pp"] != v["beats_controls_pp"]  # NaN
    assert v["matches_dense_pp"] == pytest.approx(-1.0)


def test_figure_of_a_tiny_run(tiny_run, tmp_path):
    m = EXP.aggregate(list(tiny_run.values()), TINY)
    EXP.metrics_schema.validate(m, "tiny metrics")
    EXP.plot(m, TINY, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").stat().st_size > 10_000 and (tmp_path / "f.pdf").stat().st_size > 0
