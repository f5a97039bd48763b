# Config validation (before any job starts) and the list of experiments.
import sys

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # run from a clone without install too

from overparam import experiments as _experiments
from overparam.config import ConfigError, validate as _validate_config

try:
    _validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ConfigError as e:
    raise WorkflowError(str(e)) from None

# An experiment runs when its section is in the config.
EXPERIMENTS = [e for e in _experiments.EXPERIMENTS if e in config]
MODULES = {e: _experiments.load(e) for e in EXPERIMENTS}


wildcard_constraints:
    exp="|".join(EXPERIMENTS) or "none",
    job=r"[A-Za-z0-9_.-]+",


def canonical(d):
    """Keys sorted at every level: Snakemake compares params by their repr, so reordering keys
    in the YAML must not look like a change."""
    import json

    return json.loads(json.dumps(d, sort_keys=True))


def run_params(exp):
    """An experiment's config without its claims and thread count: editing a threshold
    re-checks, changing threads re-uses finished results; neither re-trains."""
    return canonical({k: v for k, v in config[exp].items() if k not in ("claims", "threads")})


def job_threads(exp):
    """Cores a job reserves = torch threads it uses: the experiment's `threads`, else the global."""
    return config[exp].get("threads", config["threads"]) if trains(exp) else 1


def trains(exp):
    return getattr(MODULES[exp], "TRAINS", False)


def uses_gpu(exp):
    if not trains(exp) or config["device"] == "cpu":
        return 0
    if config["device"] == "cuda":
        return 1
    import torch

    return int(torch.cuda.is_available())


def job_inputs(wildcards):
    """Files a job reads (e.g. a cached dataset), from the experiment module's `inputs`."""
    return getattr(MODULES[wildcards.exp], "inputs", lambda cfg: [])(config[wildcards.exp])


def run_tables(wildcards):
    jobs = MODULES[wildcards.exp].jobs(config[wildcards.exp])
    return expand("results/{exp}/runs/{job}.parquet", exp=wildcards.exp, job=jobs)
