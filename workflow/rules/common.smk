# Config validation (before any job starts), the experiments and their jobs.
import json
import re
import sys

# This checkout's library, installed or not (the scripts do the same for every job).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

import overparam
from overparam import codehash as _codehash
from overparam import experiments as _experiments
from overparam.config import ConfigError, validate as _validate_config
from overparam.device import cuda_visible
from overparam.report import title as _report_title
from overparam.tables import config_hash

_LIBRARY = Path(workflow.basedir, "src", "overparam").resolve()
if Path(overparam.__file__).resolve().parent != _LIBRARY:
    raise WorkflowError(
        f"imported overparam from {Path(overparam.__file__).parent}, not from this "
        f"checkout's {_LIBRARY}"
    )

try:
    _validate_config(config, Path(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))
except ConfigError as e:
    # config/paper.yaml is an overlay of config/config.yaml, which Snakemake reads relative
    # to the working directory (and skips when it is missing and --configfile is given)
    hint = ""
    if not Path("config", "config.yaml").exists():
        hint = (
            "\n(config/config.yaml was not loaded: it is read from the working directory. "
            "config/paper.yaml is an overlay of it: run from the repository root, or give "
            "both: --configfile REPO/config/config.yaml REPO/config/paper.yaml)"
        )
    raise WorkflowError(str(e) + hint) from None

# An experiment runs when its section is in the config, in the config's order.
EXPERIMENTS = [e for e in config if e in _experiments.names()]
# {experiment: {job id: JobSpec}}: every job of the DAG and the parameters it computes from
# (config `bundles`: the small specs an experiment bundles run as one job, Experiment.jobs)
JOBS = {e: _experiments.get(e).jobs(config[e], config["bundles"]) for e in EXPERIMENTS}
RUN_TABLE = "results/{exp}/runs/{job}.parquet"
BENCHMARKS = "results/benchmarks/jobs/{exp}/{step}.tsv"


def _alternatives(names):
    """A regex matching exactly these names (or nothing)."""
    return "|".join(re.escape(n) for n in sorted(set(names))) or "(?!)"


def _jobs_where(trains):
    return {(e, j) for e in EXPERIMENTS for j, s in JOBS[e].items() if s.trains == trains}


# Jobs that train with torch run in rule `train` (threads, a GPU where there is one), the
# others in rule `solve`. Both write RUN_TABLE; wildcard constraints tell them apart.
TRAIN_JOBS, SOLVE_JOBS = _jobs_where(True), _jobs_where(False)
TRAIN_EXP, TRAIN_JOB = _alternatives(e for e, _ in TRAIN_JOBS), _alternatives(
    j for _, j in TRAIN_JOBS
)
SOLVE_EXP, SOLVE_JOB = _alternatives(e for e, _ in SOLVE_JOBS), _alternatives(
    j for _, j in SOLVE_JOBS
)
for _e, _j in sorted(SOLVE_JOBS):
    if re.fullmatch(TRAIN_EXP, _e) and re.fullmatch(TRAIN_JOB, _j):
        raise WorkflowError(
            f"job id {_j!r} of {_e} (no training) is also the id of a training job of another "
            "experiment; the workflow tells train and solve jobs apart by id: rename one"
        )


# `--resources gpu=N` (profiles/default: 1) is the number of GPUs of the machine a job runs
# on: on a cluster each job gets its GPU from the scheduler, so the limit is per job there, not
# a cap on the training jobs running at once (local runs count it across jobs as before).
resource_scopes:
    gpu="local",


wildcard_constraints:
    exp=_alternatives(EXPERIMENTS),
    job=r"[A-Za-z0-9_.-]+",


def job_spec(wildcards):
    return JOBS[wildcards.exp][wildcards.job]


def _job_param(key):
    """One field of a job's spec as 'key=value': Snakemake re-runs a job whose params changed
    and names the changed ones in its reason ('before: lr=0.01 now: lr=0.02')."""

    def value(wildcards):
        params = job_spec(wildcards).rule_params()
        return f"{key}={json.dumps(params[key], sort_keys=True)}" if key in params else None

    return value


# params of the run rules: every field of every spec, named p_<field>
JOB_PARAMS = {
    f"p_{k}": _job_param(k)
    for k in sorted({k for e in JOBS.values() for s in e.values() for k in s.rule_params()})
}


# What a scheduler reserves for a job: not inputs of the computation, so never in params (a
# changed memory or time limit re-runs nothing).
JOB_RESOURCES = ("threads", "mem_mb", "runtime")


def section_params(exp, without=("claim_thresholds", *JOB_RESOURCES)):
    """An experiment's config section without its claim thresholds and scheduler resources, keys sorted
    (Snakemake compares params by repr: reordering YAML keys must not look like a change)."""
    return json.loads(
        json.dumps({k: v for k, v in config[exp].items() if k not in without}, sort_keys=True)
    )


def claim_definitions(wildcards):
    """The hash of the experiment's claim definitions (its claims.yaml): a param, so that
    editing a definition re-checks the claims and redraws the figure, and only those."""
    path = _experiments.get(wildcards.exp).definitions_path()
    return f"claims.yaml={_codehash.file_hash(str(path))}"


def code_params(script):
    """Params for the jobs that run workflow/scripts/<script>. One per library module,
    'module=hash' where the job runs that module (overparam.codehash finds them from the
    script's imports, and from its experiment's folder for the rules with an {exp} wildcard),
    None elsewhere. Editing a module re-runs exactly the jobs that run it, and `snakemake -n`
    names it: "before: 'overparam.train=...' now: 'overparam.train=...'"."""
    path = str(Path(workflow.basedir, "workflow", "scripts", script))

    def param(module):
        def value(wildcards):
            mods = _codehash.job_modules(path, getattr(wildcards, "exp", None))
            return f"{module}={mods[module]}" if module in mods else None

        return value

    return {f"code_{m.replace('.', '_')}": param(m) for m in _codehash.all_modules()}


def job_resource(key):
    """A job's `threads`, `mem_mb` or `runtime`: its experiment's value, else the global one
    (workflow/schemas: definitions.job_resources)."""

    def value(wildcards):
        return config[wildcards.exp].get(key, config[key])

    return value


job_threads = job_resource("threads")
job_mem_mb = job_resource("mem_mb")
job_runtime = job_resource("runtime")


# Longest jobs first: on a few cores a long job that starts last keeps one core busy while the
# others idle (the quick build's last training job ran alone for its final 14 s). A train or
# solve job's scheduling priority is its measured seconds in the committed quick build
# (docs/quick-scale/jobs.parquet, by experiment and job id; 0 for a job it does not have), and
# the datasets every training job waits for come first. Order only: no result depends on it.
def _measured_seconds(path=Path(workflow.basedir, "docs", "quick-scale", "jobs.parquet")):
    """{(experiment, job id): seconds} of the train and solve jobs of the committed quick build."""
    if not path.exists():
        return {}
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["rule", "experiment", "job", "seconds"]).to_pydict()
    steps = zip(t["rule"], t["experiment"], t["job"], t["seconds"])
    return {(e, j): s for kind, e, j, s in steps if kind in ("train", "solve")}


_SECONDS = _measured_seconds()
DATA_PRIORITY = 1000


def job_priority(wildcards):
    return int(round(_SECONDS.get((wildcards.exp, wildcards.job), 0)))


def uses_gpu():
    if config["device"] == "cpu":
        return 0
    if config["device"] == "cuda":
        return 1
    return int(cuda_visible())


def job_inputs(wildcards):
    """The dataset files a job reads, by the name of the spec field that holds each dataset."""
    return {k: dataset_path(ds) for k, ds in job_spec(wildcards).inputs().items()}


def run_tables(wildcards):
    return expand(RUN_TABLE, exp=wildcards.exp, job=JOBS[wildcards.exp])


def job_benchmarks():
    """Every benchmark file of the DAG with its (rule, experiment, job) label."""
    out = []
    for e in EXPERIMENTS:
        for j, s in JOBS[e].items():
            step = "train" if s.trains else "solve"
            out.append((expand(BENCHMARKS, exp=e, step=f"{step}_{j}")[0], (step, e, j)))
        for step in ("aggregate", "figure", "check"):
            out.append((expand(BENCHMARKS, exp=e, step=step)[0], (step, e, "")))
    datasets = {ds for e in JOBS.values() for s in e.values() for ds in s.inputs().values()}
    for ds in sorted(datasets, key=repr):
        out.append((dataset_benchmark(ds), (ds.rule, "data", Path(dataset_path(ds)).stem)))
    return out


def job_run_tables():
    """{benchmark file: run table} of every train and solve job (the run table's provenance
    holds the job's seconds of optimizer steps and of evaluation)."""
    return {
        expand(BENCHMARKS, exp=e, step=f"{'train' if s.trains else 'solve'}_{j}")[0]: expand(
            RUN_TABLE, exp=e, job=j
        )[0]
        for e in EXPERIMENTS
        for j, s in JOBS[e].items()
    }


def dataset_path(ds):
    """The file of a dataset spec (overparam.data.Dataset): its rule's output."""
    return expand(getattr(rules, ds.rule).output[0], **ds.wildcards())[0]


def dataset_benchmark(ds):
    return expand(getattr(rules, ds.rule).benchmark, **ds.wildcards())[0]


# ----------------------------------------------------------------------------- HTML report
# `snakemake figures/all --report report.html`: per experiment a category with its figure and
# its claims page; "All experiments" holds every claim and the config. The claims rule writes
# the pages and the figures' captions (results/report/), so the report reads finished files:
# nothing is computed from results while the DAG is planned, and building it runs no job.
REPORT = "results/report"
REPORT_CAPTIONS = f"{REPORT}/captions.rst"
REPORT_OVERVIEW = "All experiments"
LANDING_TEMPLATE = str(Path(workflow.basedir, "workflow", "report", "workflow.rst"))
REPORT_LANDING = f"{REPORT}/workflow.rst"


def landing_page():
    """The report's opening page: the one the claims rule writes (the verdicts first), once
    it exists, else the workflow's description alone (read when the report is built)."""
    built = Path(REPORT_LANDING).resolve()
    return str(built) if built.exists() else LANDING_TEMPLATE


def report_category(wildcards):
    """The report category of an experiment's items: its name as a title."""
    return _report_title(wildcards.exp)


def figure_caption():
    """The figures' caption: the template the claims rule writes (every experiment's
    description and claims), once it exists, else the generic one. Snakemake fixes a
    caption's file when it parses the workflow and reads it only when it builds a report."""
    built = Path(REPORT_CAPTIONS).resolve()
    return str(built) if built.exists() else "../report/figure.rst"


def caption_hashes():
    """{experiment: hash of its caption.rst} for every one there is (the report says when one
    is missing)."""
    paths = {e: _experiments.get(e).caption_path() for e in sorted(EXPERIMENTS)}
    return {e: _codehash.file_hash(str(p)) for e, p in paths.items() if p.exists()}
