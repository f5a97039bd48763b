"""A lottery_ticket job on the tiny config: its table, and re-training rows from it."""

import numpy as np
import pytest

from overparam import lottery
from overparam.data import save_npz
from overparam.experiments import RunContext, get
from overparam.experiments.lottery_ticket import run as lt_run
from overparam.prune import Mask

from .conftest import TINY

EXP = get("lottery_ticket")
JOBS = EXP.jobs(TINY)


def test_run_table(tiny_run):
    df = tiny_run[0]
    EXP.run_schema.validate(df, "tiny")
    assert len(df) == 2 + 3 * 3 * 2  # dense x seeds + rounds x variants x seeds
    assert (
        df["variant"].tolist()[:8]
        == ["dense"] * 2 + ["ticket"] * 2 + ["reinit"] * 2 + ["random"] * 2
    )
    assert (df["hidden"] == "16x16").all() and (df["rewind_step"] == 0).all()
    t = df[df["variant"] == "ticket"].groupby("round")
    np.testing.assert_allclose(t["remaining_frac_layer1"].mean(), 0.8 ** np.arange(1, 4), atol=2e-3)
    np.testing.assert_allclose(t["remaining_frac_layer3"].mean(), 0.9 ** np.arange(1, 4), atol=1e-2)
    # the three variants of a round share the layer-wise sparsity
    r = df[df["round"] == 2].groupby("variant")[["remaining_frac_layer1", "kept_weights"]].nunique()
    assert (r == 1).all().all()
    assert df[df["round"] == 2].groupby(["variant"])["kept_weights"].first().nunique() == 1
    assert (df["stop_step"] <= df["total_steps"]).all() and (df["stop_step"] >= 0).all()
    assert (df["total_steps"] == 36).all()
    assert df["test_acc_at_stop"].between(0.15, 1).all()  # better than chance (10 classes)
    assert (df["max_test_acc"] >= df["test_acc_at_stop"]).all()
    reinit = df[df["variant"] == "reinit"]
    assert (
        reinit["init_seed"] == lottery.REINIT_SEED_OFFSET + 1000 * reinit["round"] + reinit["seed"]
    ).all()
    others = df[df["variant"] != "reinit"]
    assert (others["init_seed"] == others["seed"]).all()


def test_masks_in_the_table_match_their_rows(tiny_run):
    spec = lt_run.spec_of(JOBS["mlp_rewind0"])
    df = tiny_run[0]
    for r in df.itertuples():
        m = Mask.unpack(spec, r.mask)
        frac, per_layer = m.remaining()
        assert frac[0] == r.remaining_frac and per_layer[0, 2] == r.remaining_frac_layer3
        assert int(m.kept().sum()) == r.kept_weights
    t = df[(df["variant"] == "ticket") & (df["seed"] == 0)].set_index("round")
    m1, m2 = (Mask.unpack(spec, t.loc[j, "mask"]) for j in (1, 2))
    assert all(not (b & ~a).any() for a, b in zip(m1.weights, m2.weights))  # nested


def test_rewinding_late_changes_only_the_rewound_variants(tiny_run):
    a, b = (tiny_run[k].set_index(["round", "variant", "seed"]).sort_index() for k in (0, 12))
    assert a.loc[(0, "dense", 0), "test_acc_at_stop"] == b.loc[(0, "dense", 0), "test_acc_at_stop"]
    assert (a["mask"].loc[1] == b["mask"].loc[1]).all()  # round 1 prunes the same dense weights
    assert (a.loc[1, "val_loss_at_stop"] != b.loc[1, "val_loss_at_stop"]).any()


def test_the_cached_dataset_is_used_when_given(tmp_path, tiny):
    job = JOBS["mlp_rewind0"]
    ds = job.data.load()
    ds["y"] = (ds["y"] + 1) % 10  # a different dataset, to see that the file is read
    save_npz(tmp_path / "d.npz", ds)
    data = lt_run.load_data(job, tmp_path / "d.npz")
    plain = lt_run.load_data(job)
    assert len(data["y"]) == 600 and len(data["y_val"]) == 200
    np.testing.assert_array_equal(data["y_val"], (plain["y_val"] + 1) % 10)
    np.testing.assert_array_equal(data["x"], plain["x"])


def test_validation_split_is_seeded_and_disjoint():
    ds = {
        "x": np.arange(50)[:, None],
        "y": np.arange(50),
        "x_test": np.zeros((3, 1)),
        "y_test": np.zeros(3),
    }
    a = lt_run.split_validation(ds, 10, 42)
    assert sorted([*a["y"], *a["y_val"]]) == list(range(50)) and len(a["y_val"]) == 10
    perm = np.random.default_rng([42, lt_run.VAL_SPLIT_SALT]).permutation(50)
    assert a["y_val"].tolist() == perm[:10].tolist()
    with pytest.raises(ValueError, match="val_size"):
        lt_run.split_validation(ds, 50, 42)


@pytest.mark.parametrize(
    "k,variant,round_",
    [
        (0, "dense", 0),
        (0, "ticket", 3),
        (0, "random", 2),
        (12, "ticket", 2),
        (12, "reinit", 1),
        (12, "random", 3),
    ],
)
def test_retraining_from_the_saved_mask_reproduces_the_run(tiny_run, tiny_data, k, variant, round_):
    df = tiny_run[k]
    row = df[(df["variant"] == variant) & (df["round"] == round_) & (df["seed"] == 1)].iloc[0]
    again = lt_run.retrain_row(row, JOBS[f"mlp_rewind{k}"], tiny_data)
    assert again["stop_step"] == row["stop_step"]
    assert again["total_steps"] == row["total_steps"]
    for c in ("test_acc_at_stop", "final_test_acc", "final_train_acc", "max_test_acc"):
        assert again[c] == pytest.approx(row[c], abs=1e-3), c  # <= 1 test sample of float noise
    assert again["val_loss_at_stop"] == pytest.approx(row["val_loss_at_stop"], rel=1e-4)


def test_retraining_a_row_of_another_job_is_an_error(tiny_run):
    row = tiny_run[12].iloc[0]
    with pytest.raises(ValueError, match="is not job mlp_rewind0"):
        lt_run.retrain_row(row, JOBS["mlp_rewind0"])


def test_global_pruning_option_in_a_run(tiny, tiny_data):
    tiny.update(pruning="global", rounds=2, epochs=2, seeds=[0])
    ctx = RunContext(threads=1, inputs={"data": tiny_data}, log=lambda msg: None)
    df = EXP.run(EXP.jobs(tiny)["mlp_rewind0"], ctx)
    t = df[df["variant"] == "ticket"].set_index("round")
    n = 40 * 16 + 16 * 16 + 16 * 10
    np.testing.assert_allclose(t["remaining_frac"], [round(n * 0.8) / n, round(n * 0.64) / n])
    assert (df["pruning"] == "global").all()
    # random pruning copies the ticket's per-layer counts, whatever global pruning chose
    r = df[(df["variant"] == "random") & (df["round"] == 2)].iloc[0]
    assert r["kept_weights"] == t.loc[2, "kept_weights"]
    assert r["remaining_frac_layer3"] == t.loc[2, "remaining_frac_layer3"]


def test_the_run_logs_every_round(tiny, tiny_data):
    tiny.update(rounds=1, epochs=1, seeds=[0])
    said: list[str] = []
    ctx = RunContext(threads=1, inputs={"data": tiny_data}, log=said.append)
    EXP.run(EXP.jobs(tiny)["mlp_rewind0"], ctx)
    assert len(said) == 2
    assert said[0].startswith("[mlp_rewind0] round 0 dense: test acc at stop ")
    assert said[1].startswith("[mlp_rewind0] round 1: 0.8")
