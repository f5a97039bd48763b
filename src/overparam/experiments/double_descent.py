"""Double descent: test error peaks where the model can first interpolate the training set,
then falls again as the model grows (Belkin, Hsu, Ma & Mandal 2019; Nakkiran et al. 2019).

Three panels, each a job (the MLP panel one job per width):

- ``linear``: isotropic Gaussian linear regression, n fixed, gamma = p/n swept from 0.1 to 10.
  Min-norm least squares against Hastie et al.'s (2019) asymptotic risk, and optimally tuned
  ridge (lam* = sigma^2 gamma / r^2, Dobriban & Wager 2018; Nakkiran et al. 2021) against its
  closed form (overparam.theory.optimal_ridge_risk). Excess risks are exact (||b_hat - b||^2
  for isotropic x), no test sample.
- ``random_features``: min-norm regression of one-hot MNIST-1D labels on N random ReLU (or
  Fourier) features (overparam.features), N from n/10 to 10 n (Belkin et al. 2019, Fig. 2):
  test MSE, test 0-1 error and the coefficient norm against N.
- ``mlp_h<width>``: the MNIST-1D double-descent notebook (greydanus/mnist1d,
  deep-double-descent.ipynb): MLP 40-h-h-10, 15% of the training labels redrawn at random,
  cross-entropy, SGD with momentum, no regularisation; seeds trained as one batched ensemble.
  Train/test error is recorded every ``eval_every`` epochs (epoch-wise curves in the table).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from .. import plots
from ..claims import Claim, make_claim
from ..data import corrupt_labels, load_npz
from ..features import draw, standardize
from ..linear import min_norm, ridge
from ..tables import Schema
from ..theory import hastie_isotropic_risk, optimal_ridge_lambda, optimal_ridge_risk

NAME = "double_descent"
TRAINS = True
NUM_CLASSES = 10
TEST_CHUNK = 2048  # test rows per random-feature block

RUN_SCHEMA = Schema(
    name="double_descent.runs",
    columns={
        "panel": "str",  # linear | random_features | mlp
        "estimator": "str",  # min_norm | optimal_ridge | sgd
        "seed": "int",
        "n_train": "int",
        "width": "int",  # swept size: p (linear), N features (random_features), h (mlp)
        "num_params": "int",  # trainable parameters (random_features: N per output x 10)
        "gamma": "float",  # width / n_train: p/n or N/n; NaN for mlp
        "params_per_sample": "float",  # num_params / n_train
        "ridge_lambda": "float",  # penalty in (1/n)||y - Xb||^2 + lam ||b||^2; 0 for min-norm / mlp
        "label_noise": "float",  # fraction of training labels redrawn at random
        "epoch": "int",  # mlp: recorded epoch; closed-form fits: 0
        "train_mse": "float",
        "test_mse": "float",  # linear: excess + sigma^2 (exact); random_features: test sample
        "excess_risk": "float",  # linear only: E[(x^T(b_hat - b))^2], exact
        "theory_excess_risk": "float",  # linear only: Hastie (min_norm) / optimal-ridge closed form
        "norm": "float",  # ||b_hat|| (Frobenius for the 10 outputs); NaN for mlp
        "train_error": "float",  # 0-1 error on the (noisy) training labels
        "test_error": "float",  # 0-1 error on the clean test labels
        "train_loss": "float",  # mlp: cross-entropy
        "test_loss": "float",
        "diverged": "bool",
    },
    nullable=frozenset({"gamma", "train_mse", "test_mse", "excess_risk", "theory_excess_risk",
                        "norm", "train_error", "test_error", "train_loss", "test_loss"}),
)
METRICS_SCHEMA = Schema(name="double_descent.metrics", columns=RUN_SCHEMA.columns,
                        nullable=RUN_SCHEMA.nullable)

_NAN = math.nan


# ----------------------------------------------------------------------------- jobs and data


def jobs(cfg: dict) -> list[str]:
    return ["linear", "random_features", *(f"mlp_h{w}" for w in cfg["mlp"]["widths"])]


def data_path(cfg: dict) -> str:
    d = cfg["data"]
    return (f"results/data/mnist1d_n{d['num_samples']}_split{d['train_split']}"
            f"_seed{d['seed']}.npz")


def inputs(cfg: dict) -> list[str]:
    return [data_path(cfg)]


def log_grid(lo: float, hi: float, num: int) -> np.ndarray:
    """``num`` log-spaced values from lo to hi (an odd num with lo * hi = 1 contains 1)."""
    return np.geomspace(lo, hi, num)


def sizes(n: int, lo: float, hi: float, num: int) -> np.ndarray:
    """Distinct integer sizes round(ratio * n) >= 1 over a log grid of ratios."""
    return np.unique(np.maximum(1, np.rint(log_grid(lo, hi, num) * n).astype(int)))


def _row(**kw) -> dict:
    base = {c: _NAN for c in RUN_SCHEMA.nullable}
    base.update(ridge_lambda=0.0, epoch=0, diverged=False, label_noise=0.0)
    base.update(kw)
    return base


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(RUN_SCHEMA.columns))
    ints = {c: "int64" for c, k in RUN_SCHEMA.columns.items() if k == "int"}
    floats = {c: "float64" for c, k in RUN_SCHEMA.columns.items() if k == "float"}
    return df.astype({**ints, **floats, "diverged": "bool"})


# ----------------------------------------------------------------------------- panel 1: linear


def run_linear(cfg: dict, log=print) -> pd.DataFrame:
    c = cfg["linear"]
    n, r2, sd = int(c["n"]), float(c["snr_r2"]), float(c["noise_sd"])
    s2 = sd * sd
    rows = []
    for p in sizes(n, c["gamma_min"], c["gamma_max"], c["num_gammas"]):
        t0 = time.perf_counter()
        g = p / n
        lam = float(optimal_ridge_lambda(g, r2, s2))
        theory = {"min_norm": hastie_isotropic_risk(g, r2, s2),
                  "optimal_ridge": optimal_ridge_risk(g, r2, s2)}
        for seed in range(int(c["num_seeds"])):
            rng = np.random.default_rng([int(seed), int(p), 7001])
            beta = rng.standard_normal(p)
            beta *= math.sqrt(r2) / np.linalg.norm(beta)  # uniform direction, ||beta||^2 = r^2
            x = rng.standard_normal((n, p))
            y = x @ beta + sd * rng.standard_normal(n)
            for est, pen in (("min_norm", 0.0), ("optimal_ridge", lam)):
                b = ridge(x, y, pen)
                exc = float(np.sum((b - beta) ** 2))  # isotropic: E[(x^T(b - beta))^2]
                rows.append(_row(
                    panel="linear", estimator=est, seed=seed, n_train=n, width=int(p),
                    num_params=int(p), gamma=g, params_per_sample=g, ridge_lambda=pen,
                    train_mse=float(np.mean((x @ b - y) ** 2)), test_mse=exc + s2,
                    excess_risk=exc, theory_excess_risk=float(theory[est]),
                    norm=float(np.linalg.norm(b))))
        log(f"[{NAME}/linear] gamma={g:.3g} p={p}: {c['num_seeds']} seeds in "
            f"{time.perf_counter() - t0:.2f}s")
    return _frame(rows)


# ----------------------------------------------------------------------------- panel 2: random features


def one_hot(y: np.ndarray, k: int = NUM_CLASSES) -> np.ndarray:
    return np.eye(k)[np.asarray(y, dtype=int)]


def run_random_features(cfg: dict, log=print, data: dict | None = None) -> pd.DataFrame:
    c = cfg["random_features"]
    ds = load_npz(data_path(cfg)) if data is None else data
    n, n_test = int(c["n_train"]), int(c["n_test"])
    if n > len(ds["y"]) or n_test > len(ds["y_test"]):
        raise ValueError(f"random_features: n_train={n}, n_test={n_test} exceed the dataset's "
                         f"{len(ds['y'])} / {len(ds['y_test'])} samples")
    y_clean = ds["y"][:n]
    noise = float(c.get("label_noise", 0.0))
    y, _ = corrupt_labels(y_clean, noise, NUM_CLASSES, np.random.default_rng([int(c["noise_seed"]), 17]))
    x, xt = standardize(ds["x"][:n], ds["x_test"][:n_test])
    yt = ds["y_test"][:n_test]
    Y, Yt = one_hot(y), one_hot(yt)
    Ns = sizes(n, c["ratio_min"], c["ratio_max"], c["num_ratios"])
    rows = []
    for seed in range(int(c["num_seeds"])):
        t0 = time.perf_counter()
        rf = draw(c["kind"], x.shape[1], int(Ns.max()), np.random.default_rng([seed, 8101]),
                  bandwidth=float(c.get("bandwidth", 1.0)))
        for N in Ns:
            phi = rf(x, N)
            b = min_norm(phi, Y)  # (N, 10)
            pred = phi @ b
            # test features in row chunks: at paper scale 12000 x 10^4 would be ~1 GB at once
            predt = np.concatenate([rf(xt[a:a + TEST_CHUNK], N) @ b
                                    for a in range(0, len(xt), TEST_CHUNK)])
            rows.append(_row(
                panel="random_features", estimator="min_norm", seed=seed, n_train=n,
                width=int(N), num_params=int(N) * NUM_CLASSES, gamma=N / n,
                params_per_sample=N * NUM_CLASSES / n, label_noise=noise,
                train_mse=float(np.mean(np.sum((pred - Y) ** 2, 1))),
                test_mse=float(np.mean(np.sum((predt - Yt) ** 2, 1))),
                norm=float(np.linalg.norm(b)),
                train_error=float(np.mean(pred.argmax(1) != y)),
                test_error=float(np.mean(predt.argmax(1) != yt))))
        log(f"[{NAME}/random_features] seed {seed}: {len(Ns)} sizes N={Ns.min()}..{Ns.max()} in "
            f"{time.perf_counter() - t0:.1f}s")
    return _frame(rows)


# ----------------------------------------------------------------------------- panel 3: MLP on MNIST-1D


def mlp_data(cfg: dict, data: dict | None = None) -> tuple[dict, int]:
    """The notebook's data: MNIST-1D train/test, ``label_noise`` of the training labels redrawn
    uniformly over the 10 classes (one draw, shared by every width and seed)."""
    c = cfg["mlp"]
    ds = load_npz(data_path(cfg)) if data is None else data
    n = int(c.get("n_train", 0)) or len(ds["y"])
    if n > len(ds["y"]):
        raise ValueError(f"mlp.n_train={n} exceeds the {len(ds['y'])} training samples")
    y, _ = corrupt_labels(ds["y"][:n], float(c["label_noise"]), NUM_CLASSES,
                          np.random.default_rng([int(c["noise_seed"]), 23]))
    return {"x": ds["x"][:n], "y": y, "x_test": ds["x_test"], "y_test": ds["y_test"]}, n


def run_mlp(cfg: dict, width: int, device="auto", threads=None, log=print,
            data: dict | None = None) -> pd.DataFrame:
    from ..models import MLPSpec, init_mlp_ensemble, num_params
    from ..train import TrainConfig, resolve_device, train_ensemble

    c = cfg["mlp"]
    dev = resolve_device(device)
    d, n = mlp_data(cfg, data)
    spec = MLPSpec(in_dim=d["x"].shape[1], hidden=(width,) * int(c["depth"]), out_dim=NUM_CLASSES)
    seeds = [int(s) for s in cfg["seeds"]]
    params = init_mlp_ensemble(spec, seeds, device=dev)
    tc = TrainConfig(epochs=int(c["epochs"]), batch_size=int(c["batch_size"]), lr=float(c["lr"]),
                     optimizer="sgd", momentum=float(c["momentum"]), loss="ce",
                     eval_every=int(c["eval_every"]), threads=threads)
    h = train_ensemble(spec, params, d, tc, seeds, device=dev, log=log).history
    P = num_params(spec)
    return _frame([_row(
        panel="mlp", estimator="sgd", seed=int(r.seed), n_train=n, width=int(width),
        num_params=P, params_per_sample=P / n, label_noise=float(c["label_noise"]),
        epoch=int(r.epoch), train_error=1.0 - r.train_acc, test_error=1.0 - r.test_acc,
        train_loss=r.train_loss, test_loss=r.test_loss, diverged=bool(r.diverged))
        for r in h.itertuples(index=False)])


def job_trains(cfg: dict, job: str) -> bool:
    """Only the MLP jobs train with torch; linear and random features are numpy solves."""
    return job.startswith("mlp_h")


def run(cfg: dict, job: str, device: str = "auto", threads: int | None = None, log=print,
        **_) -> pd.DataFrame:
    if job == "linear":
        return run_linear(cfg, log)
    if job == "random_features":
        return run_random_features(cfg, log)
    if job.startswith("mlp_h") and job[5:].isdigit() and int(job[5:]) in cfg["mlp"]["widths"]:
        return run_mlp(cfg, int(job[5:]), device=device, threads=threads, log=log)
    raise ValueError(f"unknown {NAME} job {job!r}; expected one of {jobs(cfg)}")


def aggregate(frames: list[pd.DataFrame], cfg: dict) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True).sort_values(
        ["panel", "estimator", "width", "seed", "epoch"], ignore_index=True)


# ----------------------------------------------------------------------------- summaries


def linear_summary(m: pd.DataFrame) -> pd.DataFrame:
    """Per (estimator, gamma): mean, standard error and median of the excess risk, theory."""
    lin = m[m["panel"] == "linear"]
    g = lin.groupby(["estimator", "gamma"], sort=True)["excess_risk"]
    out = g.agg(mean="mean", sd="std", median="median", runs="size").reset_index()
    out["se"] = out["sd"] / np.sqrt(out["runs"])
    th = lin.groupby(["estimator", "gamma"])["theory_excess_risk"].first().reset_index()
    return out.merge(th, on=["estimator", "gamma"])


def rf_summary(m: pd.DataFrame) -> pd.DataFrame:
    rf = m[m["panel"] == "random_features"]
    return rf.groupby("width", sort=True).agg(
        gamma=("gamma", "first"), test_mse=("test_mse", "mean"), test_error=("test_error", "mean"),
        train_mse=("train_mse", "mean"), norm=("norm", "mean"), runs=("seed", "size"),
    ).reset_index()


def mlp_final(m: pd.DataFrame) -> pd.DataFrame:
    """Per width: mean (and sd) over seeds of the train/test error at the last recorded epoch."""
    mlp = m[m["panel"] == "mlp"]
    last = mlp[mlp["epoch"] == mlp.groupby("width")["epoch"].transform("max")]
    return last.groupby("width", sort=True).agg(
        num_params=("num_params", "first"), params_per_sample=("params_per_sample", "first"),
        n_train=("n_train", "first"), epoch=("epoch", "first"),
        train_error=("train_error", "mean"), test_error=("test_error", "mean"),
        test_error_sd=("test_error", "std"), test_loss=("test_loss", "mean"),
        diverged=("diverged", "sum"), runs=("seed", "size"),
    ).reset_index()


def mlp_landmarks(f: pd.DataFrame, interp_error: float) -> dict:
    """Interpolation width (smallest width with mean train error <= interp_error), the
    first-descent minimum (lowest test error below it), the peak (highest test error at or
    above that minimum) and the widest model. NaN where undefined."""
    out = {k: _NAN for k in ("h_interp", "h_min", "err_min", "h_peak", "err_peak", "h_last",
                             "err_last")}
    f = f.dropna(subset=["test_error"]).sort_values("width").reset_index(drop=True)
    if f.empty:
        return out
    out.update(h_last=float(f["width"].iloc[-1]), err_last=float(f["test_error"].iloc[-1]))
    hit = f.index[f["train_error"] <= interp_error]
    if len(hit) == 0:
        return out
    i_int = int(hit[0])
    out["h_interp"] = float(f["width"].iloc[i_int])
    below = f.iloc[: max(i_int, 1)]
    i_min = int(below["test_error"].idxmin())
    i_peak = int(f["test_error"].iloc[i_min:].idxmax())
    out.update(h_min=float(f["width"].iloc[i_min]), err_min=float(f["test_error"].iloc[i_min]),
               h_peak=float(f["width"].iloc[i_peak]), err_peak=float(f["test_error"].iloc[i_peak]))
    return out


def factor_from(x: float, ref: float) -> float:
    """max(x/ref, ref/x): 1 when equal; NaN when undefined."""
    if not (x > 0 and ref > 0):
        return _NAN
    return float(max(x / ref, ref / x))


# ----------------------------------------------------------------------------- claims


def check(metrics: pd.DataFrame, cfg: dict, scale: str) -> list[Claim]:
    fig = f"figures/{NAME}.png"
    cl = cfg["claims"]
    out: list[Claim] = []

    def claim(key: str, value: float, note: str = "") -> None:
        out.append(make_claim(cl[key], claim=key, experiment=NAME, value=value, figure=fig,
                              scale=scale, note=note))

    # linear
    s = linear_summary(metrics)
    mn = s[s["estimator"] == "min_norm"].sort_values("gamma")
    rr = s[s["estimator"] == "optimal_ridge"].sort_values("gamma")
    band = float(cfg["linear"]["exclude_band"])
    away = mn[(mn["gamma"] >= band) | (mn["gamma"] <= 1 / band)]
    rel = (away["mean"] / away["theory_excess_risk"] - 1).abs()
    worst = away.iloc[int(rel.to_numpy().argmax())] if len(away) else None
    claim("linear_matches_hastie", float(rel.mean()) if len(away) else _NAN,
          f"{len(away)} gammas outside ({1 / band:.3g}, {band:.3g}); worst "
          f"{rel.max():+.3f} at gamma={worst['gamma']:.3g}" if worst is not None else "")
    g_peak = float(mn["gamma"].iloc[int(mn["mean"].to_numpy().argmax())])
    claim("linear_peak_at_one", factor_from(g_peak, 1.0),
          f"peak of the mean min-norm risk at gamma={g_peak:.3g} (risk {mn['mean'].max():.3g}); "
          f"median peaks at gamma={float(mn['gamma'].iloc[int(mn['median'].to_numpy().argmax())]):.3g}")
    drops = (rr["mean"].to_numpy()[:-1] - rr["mean"].to_numpy()[1:]
             - 2 * np.hypot(rr["se"].to_numpy()[:-1], rr["se"].to_numpy()[1:]))
    claim("optimal_ridge_monotone", int(np.sum(drops > 0)),
          f"ridge risk {rr['mean'].iloc[0]:.3g} at gamma={rr['gamma'].iloc[0]:.3g} -> "
          f"{rr['mean'].iloc[-1]:.3g} at gamma={rr['gamma'].iloc[-1]:.3g}; at gamma nearest 1: "
          f"ridge {rr['mean'].iloc[int(np.abs(np.log(rr['gamma'])).argmin())]:.3g} vs min-norm "
          f"{mn['mean'].iloc[int(np.abs(np.log(mn['gamma'])).argmin())]:.3g}")
    rel_r = (rr["mean"] / rr["theory_excess_risk"] - 1).abs()
    claim("optimal_ridge_matches_theory", float(rel_r.mean()),
          f"{len(rr)} gammas; worst {rel_r.max():.3f} at "
          f"gamma={rr['gamma'].iloc[int(rel_r.to_numpy().argmax())]:.3g}")

    # random features
    f = rf_summary(metrics)
    n = int(cfg["random_features"]["n_train"])
    i_pk = int(f["test_mse"].to_numpy().argmax())
    i_nm = int(f["norm"].to_numpy().argmax())
    i_e = int(f["test_error"].to_numpy().argmax())
    claim("rf_error_peak", factor_from(float(f["width"].iloc[i_pk]), n),
          f"test MSE peaks at N={int(f['width'].iloc[i_pk])} (n={n}); 0-1 test error peaks at "
          f"N={int(f['width'].iloc[i_e])} ({f['test_error'].iloc[i_e]:.3f})")
    claim("rf_norm_peak", factor_from(float(f["width"].iloc[i_nm]), n),
          f"norm peaks at N={int(f['width'].iloc[i_nm])}")
    claim("rf_second_descent", float(f["test_mse"].iloc[-1] / f["test_mse"].iloc[i_pk]),
          f"test MSE {f['test_mse'].iloc[-1]:.3g} at N={int(f['width'].iloc[-1])} vs "
          f"{f['test_mse'].iloc[i_pk]:.3g} at the peak; 0-1 error {f['test_error'].iloc[-1]:.3f} "
          f"vs {f['test_error'].iloc[i_e]:.3f}")

    # MLP
    fm = mlp_final(metrics)
    lm = mlp_landmarks(fm, float(cfg["mlp"]["interp_train_error"]))
    ref = cfg["mlp"]["reference"]
    if lm["h_interp"] != lm["h_interp"]:
        fm_last = fm.sort_values("width").iloc[-1] if len(fm) else None
        lm_note = (f"no width reached mean train error <= {cfg['mlp']['interp_train_error']:g} "
                   f"(widest: train {fm_last['train_error']:.3f}, test {fm_last['test_error']:.3f}); "
                   if fm_last is not None else "no MLP rows; ")
    else:
        lm_note = ""
    note = lm_note + (f"after {int(fm['epoch'].max()) if len(fm) else 0} epochs: first-descent min "
            f"{lm['err_min']:.3f} at h={lm['h_min']:g}, peak {lm['err_peak']:.3f} at "
            f"h={lm['h_peak']:g}, interpolation (train err <= "
            f"{cfg['mlp']['interp_train_error']:g}) from h={lm['h_interp']:g}, widest "
            f"{lm['err_last']:.3f} at h={lm['h_last']:g}. Notebook: min {ref['min_error']:g} at "
            f"h~{ref['min_width']:g}, peak {ref['peak_error']:g} at h~{ref['peak_width']:g}, "
            f"{ref['last_error']:g} at h={ref['last_width']:g}")
    claim("mlp_peak_near_interpolation", factor_from(lm["h_peak"], lm["h_interp"]), note)
    claim("mlp_peak_height", lm["err_peak"] - lm["err_min"], note)
    claim("mlp_second_descent", lm["err_peak"] - lm["err_last"], note)
    return out


# ----------------------------------------------------------------------------- figure


def plot(metrics: pd.DataFrame, cfg: dict, png, pdf) -> None:
    fig, axes = plots.subplots(3, nrows=2, width=4.9, height=3.9)
    ax_lin, ax_rf, ax_norm, ax_mlp, ax_ep, ax_tr = axes
    c_mn, c_rr, c_th = "C0", "C2", "k"

    # (a) linear
    s = linear_summary(metrics)
    lc = cfg["linear"]
    r2, s2 = float(lc["snr_r2"]), float(lc["noise_sd"]) ** 2
    for est, col, lab in (("min_norm", c_mn, "min-norm"), ("optimal_ridge", c_rr,
                                                           r"optimal ridge $\lambda^*=\sigma^2\gamma/r^2$")):
        e = s[s["estimator"] == est]
        ax_lin.errorbar(e["gamma"], e["mean"], yerr=e["se"], fmt="o", ms=3.5, capsize=1.5,
                        color=col, label=f"{lab} (mean of {int(e['runs'].max())} seeds)")
    g = np.geomspace(s["gamma"].min(), s["gamma"].max(), 600)
    g = g[np.abs(g - 1) > 2e-3]
    th = hastie_isotropic_risk(g, r2, s2)
    ax_lin.plot(g[g < 1], th[g < 1], color=c_th, lw=1.2, label="Hastie et al. limit (min-norm)")
    ax_lin.plot(g[g > 1], th[g > 1], color=c_th, lw=1.2)
    ax_lin.plot(g, optimal_ridge_risk(g, r2, s2), color=c_th, ls="--", lw=1.2,
                label="optimal ridge limit (MP)")
    ax_lin.axvline(1, color="0.6", ls=":", lw=1)
    ax_lin.axhline(r2, color="0.6", ls="-.", lw=0.8, label=r"null risk $r^2$")
    ax_lin.set(xscale="log", yscale="log", xlabel=r"$\gamma = p/n$",
               ylabel=r"excess risk $\|\hat\beta-\beta\|^2$",
               ylim=(max(1e-3, 0.3 * s["mean"].min()), 30 * max(r2, s2)),
               title=f"(a) linear regression, n={lc['n']}, SNR $r^2/\\sigma^2$={r2 / s2:g}")
    ax_lin.legend(fontsize=7, loc="lower right")
    plots.plain_log_ticks(ax_lin, "x")

    # (b, c) random features
    f = rf_summary(metrics)
    rc = cfg["random_features"]
    rf_rows = metrics[metrics["panel"] == "random_features"]
    ax_rf.scatter(rf_rows["gamma"], rf_rows["test_mse"], s=5, color="C1", alpha=0.35)
    ax_rf.plot(f["gamma"], f["test_mse"], "o-", ms=3, color="C1", label="test MSE (squared loss)")
    ax_rf.set(xscale="log", yscale="log", xlabel="features per sample N/n",
              ylabel="test MSE (one-hot targets)",
              title=f"(b) random {rc['kind']} features, MNIST-1D, n={rc['n_train']}")
    ax_e = ax_rf.twinx()
    ax_e.plot(f["gamma"], 100 * f["test_error"], "s--", ms=3, color="C4", label="test 0-1 error")
    ax_e.set_ylabel("test error (%)", color="C4")
    ax_e.grid(False)
    for a in (ax_rf, ax_norm):
        a.axvline(1, color="0.6", ls=":", lw=1)
    h1, l1 = ax_rf.get_legend_handles_labels()
    h2, l2 = ax_e.get_legend_handles_labels()
    ax_rf.legend(h1 + h2, l1 + l2, fontsize=7.5, loc="upper right")
    plots.plain_log_ticks(ax_rf, "x")
    ax_norm.scatter(rf_rows["gamma"], rf_rows["norm"], s=5, color="C3", alpha=0.35)
    ax_norm.plot(f["gamma"], f["norm"], "o-", ms=3, color="C3", label="mean over feature draws")
    ax_norm.set(xscale="log", yscale="log", xlabel="features per sample N/n",
                ylabel=r"coefficient norm $\|\hat{B}\|_F$", title="(c) norm of the min-norm fit")
    ax_norm.legend(fontsize=7.5)
    plots.plain_log_ticks(ax_norm, "x")

    # (d) MLP: final errors vs width, with the classical sqrt(P/n) bound
    mc = cfg["mlp"]
    fm = mlp_final(metrics)
    mlp = metrics[metrics["panel"] == "mlp"]
    last = mlp[mlp["epoch"] == mlp.groupby("width")["epoch"].transform("max")]
    ax_mlp.scatter(last["width"], 100 * last["test_error"], s=6, color="C0", alpha=0.4)
    ax_mlp.plot(fm["width"], 100 * fm["test_error"], "o-", ms=3.5, color="C0",
                label="test error (clean labels)")
    ax_mlp.plot(fm["width"], 100 * fm["train_error"], "s-", ms=3, color="C1",
                label="train error (noisy labels)")
    ref = mc["reference"]
    ax_mlp.scatter([ref["min_width"], ref["peak_width"], ref["last_width"]],
                   [100 * ref["min_error"], 100 * ref["peak_error"], 100 * ref["last_error"]],
                   marker="*", s=70, color="k", zorder=4, label="notebook (500 epochs)")
    bound = 100 * np.sqrt(fm["params_per_sample"])
    ax_mlp.plot(fm["width"], bound, color="0.45", ls="--", lw=1,
                label=r"$\sqrt{P/n}$ (param-count bound; vacuous $>$100%)")
    ax_mlp.axhline(100, color="0.6", lw=0.8)
    lm = mlp_landmarks(fm, float(mc["interp_train_error"]))
    if lm["h_interp"] == lm["h_interp"]:
        ax_mlp.axvline(lm["h_interp"], color="C1", ls=":", lw=1,
                       label=f"first width with train error <= {100 * mc['interp_train_error']:g}%")
    ax_mlp.set(xscale="log", ylim=(0, 125), xlabel="hidden width h (40-h-h-10 MLP)",
               ylabel="error (%)",
               title=f"(d) MNIST-1D, {100 * mc['label_noise']:g}% label noise, "
                     f"{int(fm['epoch'].max()) if len(fm) else 0} epochs")
    ax_mlp.legend(fontsize=7, loc="lower left")
    plots.plain_log_ticks(ax_mlp, "x")

    # (e, f) epoch-wise curves
    widths = sorted(mlp["width"].unique())
    pal = dict(zip(widths, plots.sns.color_palette("viridis", len(widths))))
    for w in widths:
        gm = mlp[mlp["width"] == w].groupby("epoch")[["test_error", "train_error"]].mean()
        ax_ep.plot(gm.index, 100 * gm["test_error"], color=pal[w], lw=1.2, label=f"h={w}")
        ax_tr.plot(gm.index, 100 * gm["train_error"], color=pal[w], lw=1.2, label=f"h={w}")
    ax_ep.set(xlabel="epoch", ylabel="test error (%)", title="(e) epoch-wise test error")
    ax_tr.set(xlabel="epoch", ylabel="train error (%)",
              title="(f) epoch-wise train error (noisy labels)")
    changed = 100 * mc["label_noise"] * (1 - 1 / NUM_CLASSES)  # a redrawn label may be unchanged
    ax_tr.axhline(changed, color="0.5", ls=":", lw=1, label=f"labels changed ({changed:.1f}%)")
    ax_tr.legend(fontsize=6.5, ncol=2, loc="upper right")
    plots.save(fig, png, pdf)
