"""One module per experiment. Each exposes the same small interface, called by the thin
workflow scripts:

    NAME                         experiment id (= config section, rule prefix, figure name)
    RUN_SCHEMA, METRICS_SCHEMA   tables.Schema of one job's table and of the aggregate
    jobs(cfg) -> list[str]       the job ids (one Snakemake job each)
    run(cfg, job, device=..., threads=..., log=...) -> DataFrame
    aggregate(frames, cfg) -> DataFrame
    plot(metrics, cfg, png, pdf)
    check(metrics, cfg, scale) -> list[claims.Claim]

Optional: TRAINS (bool: jobs train with torch -> gpu resource, threads, device resolution),
job_trains(cfg, job) (per job, where only some jobs train), inputs(cfg) (files jobs read).
"""

import importlib

EXPERIMENTS = ("benign_overfitting", "optimization_ease", "double_descent", "lottery_ticket")


def load(name: str):
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {list(EXPERIMENTS)}")
    return importlib.import_module(f"{__name__}.{name}")
