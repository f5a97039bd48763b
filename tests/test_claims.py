"""The claims contract: intervals from a bootstrap over seeds, the confident verdict, and what
the console, the markdown and the manifest say."""

import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from overparam import claims, experiments
from overparam.experiments import CheckContext

from .claimdefs import definition


def make(estimate, comparison="<=", threshold=0.5, name="a", tier="replication"):
    return claims.make_claim(
        definition(comparison, threshold, tier=tier),
        claim=name,
        experiment="e",
        estimate=estimate,
        figure="f.png",
        scale="test",
    )


def runs(values_per_seed, conditions=("x",)):
    """One row per (condition, seed) with value y."""
    return pd.DataFrame(
        [
            {"cond": c, "seed": s, "y": float(v) + i}
            for i, c in enumerate(conditions)
            for s, v in enumerate(values_per_seed)
        ]
    )


def mean_y(m):
    return {"mean": float(m["y"].mean())}


def test_bootstrap_is_deterministic_and_brackets_the_mean():
    r = runs(np.random.default_rng(3).normal(1.0, 0.2, size=12))
    a = claims.bootstrap(mean_y, r, resamples=400)["mean"]
    b = claims.bootstrap(mean_y, r, resamples=400)["mean"]
    assert a == b
    assert a.n_seeds == 12
    assert a.ci_low < a.value < a.ci_high
    # the percentile interval of a mean is about +-1.96 standard errors
    se = r["y"].std(ddof=0) / math.sqrt(12)
    assert (a.ci_high - a.ci_low) / (2 * 1.96 * se) == pytest.approx(1.0, rel=0.25)
    other = claims.bootstrap(mean_y, r, resamples=400, seed=1)["mean"]
    assert other.ci_low != a.ci_low  # the generator's seed matters


def test_bootstrap_of_constant_runs_has_zero_width():
    e = claims.bootstrap(mean_y, runs([2.0] * 5), resamples=50)["mean"]
    assert (e.value, e.ci_low, e.ci_high, e.n_seeds) == (2.0, 2.0, 2.0, 5)


def test_bootstrap_resamples_whole_seeds_and_keeps_pairs():
    # y(b) - y(a) is exactly 1 on every seed; resampling seeds jointly keeps that difference
    # exact, though each condition's mean varies a lot between resamples
    r = runs([0.0, 10.0, 20.0, 30.0], conditions=("a", "b"))

    def diff(m):
        g = m.groupby("cond")["y"].mean()
        return {"diff": float(g["b"] - g["a"]), "a": float(g["a"])}

    e = claims.bootstrap(diff, r, resamples=200)
    assert e["diff"].ci_low == pytest.approx(1.0) and e["diff"].ci_high == pytest.approx(1.0)
    assert e["a"].ci_high - e["a"].ci_low > 5


def test_a_seed_drawn_twice_counts_twice():
    # seeds are relabelled per draw: a statistic that counts distinct seeds always sees k
    r = runs([1.0, 2.0, 3.0])
    e = claims.bootstrap(lambda m: {"k": m["seed"].nunique()}, r, resamples=100)["k"]
    assert (e.ci_low, e.ci_high) == (3.0, 3.0)


def test_bootstrap_of_a_ratio_recomputes_the_ratio():
    r = pd.DataFrame({"seed": range(8), "num": np.arange(1.0, 9.0), "den": np.full(8, 2.0)})
    e = claims.bootstrap(lambda m: {"r": m["num"].mean() / m["den"].mean()}, r, resamples=300)
    assert e["r"].value == pytest.approx(2.25)
    assert 1.0 < e["r"].ci_low < 2.25 < e["r"].ci_high < 3.5


def test_single_seed_has_no_interval_and_is_not_confident():
    e = claims.bootstrap(mean_y, runs([0.1]), resamples=100)["mean"]
    assert e.n_seeds == 1 and math.isnan(e.ci_low) and math.isnan(e.ci_high)
    c = make(e)
    assert c.holds and not c.confident


def test_nan_in_many_resamples_gives_no_interval():
    # the statistic is NaN whenever seed 0 is missing from the resample (about 1/e of them)
    r = runs([1.0, 2.0, 3.0])

    def fragile(m):
        return {"v": float(m["y"].mean()) if (m["y"] == 1.0).any() else math.nan}

    e = claims.bootstrap(fragile, r, resamples=200)["v"]
    assert not math.isnan(e.value) and math.isnan(e.ci_low)


def test_confident_iff_the_interval_is_on_the_holding_side():
    assert make(claims.Estimate(0.3, 4, 0.2, 0.4)).confident
    crossing = make(claims.Estimate(0.3, 4, 0.2, 0.6))
    assert crossing.holds and not crossing.confident
    fails = make(claims.Estimate(0.7, 4, 0.6, 0.8))
    assert not fails.holds and not fails.confident
    # '>' looks at the lower end
    assert make(claims.Estimate(0.7, 4, 0.6, 0.8), ">").confident
    assert not make(claims.Estimate(0.7, 4, 0.4, 0.8), ">").confident


def test_closed_form_claims_say_so():
    e = claims.Estimate.exact(0.25)
    assert (e.n_seeds, e.ci_low, e.ci_high) == (0, 0.25, 0.25)
    df = claims.claims_frame([make(e)])
    assert df.loc[0, "confident"] and df.loc[0, "n_seeds"] == 0
    assert "exact (closed form)" in claims.to_markdown(df)


def test_make_claim_requires_an_estimate():
    with pytest.raises(TypeError, match="e.a: estimate must be an Estimate"):
        make(0.3)


def test_rows_interval_contains_value_and_confident_agrees():
    r = runs(np.random.default_rng(0).normal(0.45, 0.1, size=6))
    est = claims.bootstrap(mean_y, r, resamples=300)["mean"]
    cs = [make(est, "<=", t, name=f"t{t}") for t in (0.2, 0.45, 0.5, 0.7)]
    df = claims.claims_frame(cs)
    claims.CLAIMS_SCHEMA.validate(df, "test")
    assert ((df["ci_low"] <= df["value"]) & (df["value"] <= df["ci_high"])).all()
    assert list(df["holds"]) == [False, df.loc[1, "value"] <= 0.45, True, True]
    assert not df.loc[2, "confident"] or df.loc[2, "ci_high"] <= 0.5
    assert df.loc[3, "confident"]  # the interval is far below 0.7
    assert (df["confident"] <= df["holds"]).all()


def test_summary_names_the_claims_that_do_not_hold():
    df = claims.claims_frame(
        [
            make(claims.Estimate(0.3, 4, 0.2, 0.4), name="sure"),
            make(claims.Estimate(0.4, 4, 0.2, 0.6), name="shaky", tier="extension"),
            make(claims.Estimate(0.9, 4, 0.8, 1.0), name="fails"),
            make(claims.Estimate.exact(0.1), name="math", tier="sanity"),
        ]
    )
    text = claims.summary(df)
    assert text.startswith(
        "replications: 1 of 2 hold (1 confidently) · extensions: 1 of 1 hold (0 confidently)"
        " · sanity checks: all 1 pass"
    )
    assert "replications not holding:\n  e.fails (m = 0.9, needs <= 0.5)" in text
    assert "extensions holding, not confidently:\n  e.shaky (0.4, [0.2, 0.6] over 4 seeds" in text
    assert "FAILING" not in text
    md = claims.to_markdown(df)
    assert "holds (not confident: CI crosses the threshold)" in md
    assert "holds (confident)" in md and "**DOES NOT HOLD**" in md
    # one section per tier, each claim under its own
    parts = md.split("## ")
    assert [p.splitlines()[0] for p in parts[1:]] == ["Replications", "Extensions", "Sanity checks"]
    assert "e.shaky" in parts[2] and "e.shaky" not in parts[1] and "e.math" in parts[3]


def test_a_failing_sanity_check_is_called_a_bug():
    df = claims.claims_frame(
        [
            make(claims.Estimate.exact(0.1), name="ok", tier="sanity"),
            make(claims.Estimate.exact(0.9), name="broken", tier="sanity"),
        ]
    )
    assert claims.tally(df) == "sanity checks: 1 of 2 FAIL (a bug of the pipeline)"
    text = claims.summary(df)
    assert "sanity checks FAILING (bugs of the pipeline):\n  e.broken" in text
    assert list(claims.failing_sanity(df)["claim"]) == ["e.broken"]


def test_tally_leaves_out_tiers_without_claims():
    df = claims.claims_frame([make(claims.Estimate(0.9, 4, 0.8, 1.0), name="x")])
    assert claims.tally(df) == "replications: 0 of 1 hold (0 confidently)"
    assert claims.tally(df.iloc[0:0]) == "no claims"


def test_check_context_uses_the_configured_resamples():
    r = runs(np.arange(6.0))
    few = CheckContext("test", "f.png", resamples=0).estimates(mean_y, r)["mean"]
    assert math.isnan(few.ci_low) and few.n_seeds == 6
    some = CheckContext("test", "f.png", resamples=50, bootstrap_seed=2).estimates(mean_y, r)
    assert some["mean"] == claims.bootstrap(mean_y, r, resamples=50, seed=2)["mean"]


def test_interval_of_a_biased_statistic_still_contains_the_value():
    # |mean| of centred data: every resample's |mean| is >= 0 and mostly larger than the
    # point value 0, so the plain percentile interval would exclude it
    r = runs([-1.0, 1.0, -2.0, 2.0, -3.0, 3.0])
    e = claims.bootstrap(lambda m: {"abs": abs(float(m["y"].mean()))}, r, resamples=300)["abs"]
    assert e.value == 0.0 and e.ci_low == 0.0 < e.ci_high


# ----------------------------------------------------------------------------- definitions


def test_definition_is_validated_field_by_field():
    d = claims.Definition.from_mapping("k", definition())
    assert d.tier == "replication" and d.threshold == 0.5 and d.key == "k"
    for bad, msg in (
        ({"tier": "replicaton"}, "tier 'replicaton' is not one of"),
        ({"comparison": "=="}, "comparison '==' is not one of"),
        ({"threshold": "0.5"}, "threshold '0.5' is not a number"),
        ({"protocol": " "}, "empty field(s) ['protocol'] (a replication must state"),
        ({"published": 3}, "published must be a string"),
        ({"extra": "x"}, "unknown field(s) ['extra']"),
    ):
        with pytest.raises(claims.DefinitionError, match=re.escape(msg)):
            claims.Definition.from_mapping("k", definition(**bad))
    missing = definition()
    del missing["tier"], missing["protocol"]
    with pytest.raises(
        claims.DefinitionError, match=r"claim 'k': missing field\(s\) \['tier', 'protocol'\]"
    ):
        claims.Definition.from_mapping("k", missing)


def test_load_definitions_names_the_file(tmp_path):
    p = tmp_path / "claims.yaml"
    p.write_text(yaml.safe_dump({"a": definition(), "b": definition(tier="sanity")}))
    defs = claims.load_definitions(p)
    assert list(defs) == ["a", "b"] and defs["b"].tier == "sanity"
    p.write_text(yaml.safe_dump({"a": {**definition(), "tier": None}}))
    with pytest.raises(claims.DefinitionError, match=f"{re.escape(str(p))}: claim 'a': missing"):
        claims.load_definitions(p)
    with pytest.raises(claims.DefinitionError, match="file missing"):
        claims.load_definitions(tmp_path / "none.yaml")


def test_scale_thresholds_replace_the_threshold_and_say_why():
    defs = {"a": claims.Definition.from_mapping("a", definition())}
    out = claims.with_scale_thresholds(defs, {"a": {"threshold": 2, "reason": "few seeds"}}, "x")
    assert out["a"].threshold == 2.0 and out["a"].threshold_basis.endswith(
        "At this scale 2: few seeds"
    )
    assert defs["a"].threshold == 0.5  # unchanged
    with pytest.raises(claims.DefinitionError, match="x: no claim 'b'"):
        claims.with_scale_thresholds(defs, {"b": {"threshold": 1, "reason": "r"}}, "x")


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_defines_its_claims_completely(name):
    """Each experiment's claims.yaml loads (every field present and non-empty, a known tier);
    a replication says what the source did and where we deviate, and where its threshold
    comes from."""
    defs = experiments.get(name).definitions()
    assert defs, name
    for key, d in defs.items():
        assert d.tier in claims.TIERS
        for field in ("protocol", "deviations", "threshold_basis", "published", "tier_reason"):
            text = getattr(d, field)
            assert "TODO" not in text and "DRAFT" not in text, f"{name}.{key}.{field}"
        if d.tier == "replication":
            assert len(d.protocol) > 40, f"{name}.{key}: a replication states the source's protocol"


def test_the_manifest_is_not_written_when_a_sanity_check_fails(tmp_path):
    from overparam import steps, tables

    ok = make(claims.Estimate.exact(0.1), name="ok", tier="sanity")
    bad = make(claims.Estimate.exact(0.9), name="broken", tier="sanity")
    path = tmp_path / "claims.parquet"
    tables.write_table(claims.claims_frame([ok]), path, claims.CLAIMS_SCHEMA, {})
    text = steps.write_manifest(path, ["f.png"], tmp_path / "all", log=lambda m: None)
    assert "e.ok [sanity]: holds" in text and (tmp_path / "all").read_text() == text
    tables.write_table(claims.claims_frame([ok, bad]), path, claims.CLAIMS_SCHEMA, {})
    (tmp_path / "all").unlink()
    with pytest.raises(
        steps.SanityCheckFailed, match=r"1 sanity check\(s\) of .* fail(.|\n)*e.broken: m = 0.9"
    ):
        steps.write_manifest(path, ["f.png"], tmp_path / "all", log=lambda m: None)
    assert not (tmp_path / "all").exists()


def test_slope_is_the_power_law_exponent_and_treats_missing_points_alike():
    from overparam.claims import slope

    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert slope(x, 3 * x**-0.5) == pytest.approx(-0.5)
    assert slope(x, 2 * x + 1, log_x=False, log_y=False) == pytest.approx(2.0)
    assert slope(x, np.exp(0.3 * x), log_x=False) == pytest.approx(0.3)
    bad = np.array([1.0, np.nan, 0.25, -1.0])  # a NaN, and a negative value on a log axis
    assert slope(x, bad) == pytest.approx(-1.0)  # fitted on the two valid points
    assert np.isnan(slope(x, bad, strict=True))  # every condition must count
    assert np.isnan(slope(x, [1.0, np.nan, np.nan, 0.0]))  # one point left: no slope
    assert np.isnan(slope([1.0, 0.0], [1.0, 2.0]))  # x = 0 on a log axis drops out


def test_bootstrap_calls_values_once_per_distinct_draw_with_identical_intervals():
    from overparam.claims import bootstrap

    rng = np.random.default_rng(3)
    runs = pd.DataFrame({"seed": np.repeat([0, 1, 2], 4), "v": rng.normal(size=12)})
    calls = []

    def values(df):
        calls.append(1)
        return {"mean": float(df["v"].mean()), "sd": float(df.groupby("seed")["v"].mean().std())}

    got = bootstrap(values, runs, resamples=500, seed=7)
    assert len(calls) <= 1 + 3**3  # the point value, then at most one call per distinct draw
    # the same resamples computed one by one, without reusing any result
    ids = runs["seed"].to_numpy()
    rows = [np.flatnonzero(ids == s) for s in range(3)]
    draw = np.random.default_rng(7)
    ref = {"mean": [], "sd": []}
    for _ in range(500):
        pick = draw.integers(0, 3, size=3)
        take = np.concatenate([rows[i] for i in pick])
        sample = runs.iloc[take].assign(seed=np.repeat(np.arange(3), [len(rows[i]) for i in pick]))
        for key, v in values(sample).items():
            ref[key].append(v)
    for key, est in got.items():
        lo, hi = np.quantile(ref[key], [0.025, 0.975])
        point = values(runs)[key]
        assert (est.ci_low, est.ci_high) == (min(lo, point), max(hi, point))
