"""The bootstrap's batches (overparam.claims.Batch) and their helpers (overparam.batching):
a batch gives the same intervals as the per-draw value function, bit for bit; pandas'
reductions and row orders the batches rely on are reproduced exactly."""

import math

import numpy as np
import pandas as pd
import pytest

from overparam.batching import (
    batch_mismatches,
    draw_bounds,
    last_rows,
    run_codes,
    series_mean,
    series_min,
)
from overparam.claims import DRAW, Batch, bootstrap


def _runs(seeds=5, widths=(1, 2, 4, 8), rng=None) -> pd.DataFrame:
    rng = rng or np.random.default_rng(3)
    rows = [
        {"seed": s, "width": w, "loss": float(rng.lognormal(-w / 4, 1.0))}
        for s in range(seeds)
        for w in widths
    ]
    return pd.DataFrame(rows)


def _values(m: pd.DataFrame) -> dict[str, float]:
    """A claim-like value: the mean loss per width, its largest ratio between neighbours."""
    per = m.groupby("width")["loss"].mean().to_numpy()
    return {"worst_ratio": float(np.max(per[1:] / per[:-1])), "first": float(per[0])}


def _batch_values(t: pd.DataFrame) -> dict[str, np.ndarray]:
    per = t.groupby([DRAW, "width"])["loss"].mean().unstack("width").to_numpy()
    return {"worst_ratio": np.max(per[:, 1:] / per[:, :-1], axis=1), "first": per[:, 0]}


BATCH = Batch(("width", "loss"), _batch_values)


def test_a_batch_gives_the_same_intervals_as_the_value_function():
    runs = _runs()
    assert batch_mismatches(_values, BATCH, runs, resamples=300) == []
    plain = bootstrap(_values, runs, resamples=300, seed=4)
    batched = bootstrap(_values, runs, resamples=300, seed=4, batch=BATCH)
    assert batched == plain  # Estimates compare every field exactly
    assert all(e.ci_low < e.ci_high for e in plain.values())  # not a degenerate comparison


def test_a_batch_in_chunks_gives_the_same_intervals(monkeypatch):
    import overparam.claims

    runs = _runs()
    whole = bootstrap(_values, runs, resamples=300, batch=BATCH)
    calls = []

    def counted(t):
        calls.append(int(t[DRAW].max()) + 1)
        return _batch_values(t)

    monkeypatch.setattr(overparam.claims, "BATCH_ROWS", 50)  # 2 draws of 20 rows per call
    assert bootstrap(_values, runs, resamples=300, batch=Batch(("width", "loss"), counted)) == whole
    assert len(calls) > 1 and max(calls) == 2


def test_a_wrong_batch_is_caught():
    def off(t):
        got = _batch_values(t)
        return {**got, "first": got["first"] * (1 + 1e-15)}  # one bit off at most draws

    bad = batch_mismatches(_values, Batch(("width", "loss"), off), _runs(), resamples=100)
    assert bad and {k for _, k, _, _ in bad} == {"first"}


def test_a_declining_batch_falls_back_to_the_value_function():
    runs = _runs()
    declines = Batch(("width", "loss"), lambda t: None)
    assert batch_mismatches(_values, declines, runs, resamples=50) is None
    assert bootstrap(_values, runs, resamples=200, batch=declines) == bootstrap(
        _values, runs, resamples=200
    )


def test_a_batch_must_give_one_value_per_draw():
    short = Batch(("width", "loss"), lambda t: {"first": np.zeros(1)})
    with pytest.raises(ValueError, match="one value per draw|expected"):
        bootstrap(_values, _runs(), resamples=50, batch=short)


def test_the_stacked_table_holds_each_draw_as_the_value_function_sees_it():
    runs = _runs(seeds=3)
    seen = []

    def record(t):
        seen.append(t)
        return {}

    bootstrap(lambda m: {}, runs, resamples=20, batch=Batch(("width", "loss"), record))
    (t,) = seen
    draws = int(t[DRAW].max()) + 1
    b = draw_bounds(t, draws)
    for d in range(draws):
        one = t.iloc[b[d] : b[d + 1]]
        assert sorted(set(one["seed"])) == list(range(3))  # relabelled 0..k-1 in draw order
        # every drawn seed's rows are an original seed's rows, in their original order
        for s in range(3):
            rows = one[one["seed"] == s][["width", "loss"]].reset_index(drop=True)
            assert any(
                rows.equals(runs[runs["seed"] == o][["width", "loss"]].reset_index(drop=True))
                for o in range(3)
            )


def test_series_reductions_equal_pandas():
    rng = np.random.default_rng(0)
    for n in (0, 1, 3, 7, 8, 9, 31, 200):
        x = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, size=n)
        x[rng.random(n) < 0.2] = np.nan
        for ours, theirs in ((series_mean, pd.Series.mean), (series_min, pd.Series.min)):
            a, b = ours(x), float(theirs(pd.Series(x, dtype=float)))
            assert a == b or (math.isnan(a) and math.isnan(b)), (n, ours.__name__)


def test_last_rows_follow_pandas_sort_and_tail_including_ties():
    rng = np.random.default_rng(1)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        df = pd.DataFrame({
            "kind": rng.choice(["a", "b"], n), "seed": rng.integers(0, 4, n),
            "step": rng.integers(0, 6, n), "v": rng.standard_normal(n),
        })  # fmt: skip
        want = df.sort_values("step").groupby(["kind", "seed"], sort=True).tail(1)
        got = df.iloc[last_rows(df["step"].to_numpy(), run_codes(df, ["kind", "seed"]))]
        assert got.index.tolist() == want.index.tolist()  # the same rows in the same order


def test_last_rows_decline_what_they_do_not_reproduce():
    df = pd.DataFrame({"k": [1.0, np.nan], "step": [0.0, 1.0]})
    assert run_codes(df, ["k"]) is None
    assert last_rows(np.array([0.0, np.nan]), np.array([0, 1])) is None


def test_draw_bounds_need_the_draws_in_order():
    t = pd.DataFrame({DRAW: [0, 0, 1, 2, 2]})
    assert draw_bounds(t, 3).tolist() == [0, 2, 3, 5]
    with pytest.raises(ValueError):
        draw_bounds(pd.DataFrame({DRAW: [1, 0]}), 2)
