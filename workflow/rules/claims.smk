# All experiments -> results/claims.parquet, results/claims.md, the job benchmarks table and
# the manifest figures/all (written last: a failing sanity check fails the run there, after
# every table, figure and claims file is written); strict mode; the verdicts printed at the end
# of every run.


rule benchmarks:
    input:
        bench=[path for path, _ in job_benchmarks()],
        runs=sorted(job_run_tables().values()),
    output:
        "results/benchmarks/jobs.parquet",
    log:
        "logs/benchmarks.log",
    benchmark:
        "results/benchmarks/jobs/benchmarks.tsv"
    conda:
        "../envs/overparam.yaml"
    params:
        **code_params("benchmarks.py"),
        # {file: (rule, experiment, job)}, sorted by file: reordering the config's keys
        # must not look like a change of params
        labels={path: list(label) for path, label in sorted(job_benchmarks())},
        # {benchmark file: the run table whose provenance has the job's train_s and eval_s}
        run_tables=dict(sorted(job_run_tables().items())),
    message:
        "collect the time and memory of every job"
    script:
        "../scripts/benchmarks.py"


rule claims:
    input:
        claims=expand(rules.check.output[0], exp=EXPERIMENTS),
    output:
        parquet="results/claims.parquet",
        markdown="results/claims.md",
        # what `--report` shows besides the figures (its captions and pages)
        captions=REPORT_CAPTIONS,
        pages=report(
            directory(f"{REPORT}/experiments"),
            patterns=["{exp}_claims.html"],
            caption="../report/claims.rst",
            category=report_category,
        ),
        all_claims=report(
            f"{REPORT}/claims.html",
            caption="../report/all_claims.rst",
            category=REPORT_OVERVIEW,
        ),
        config=report(
            f"{REPORT}/config.html", caption="../report/config.rst", category=REPORT_OVERVIEW
        ),
        # the report's opening page: the verdicts, then the workflow's description
        landing=REPORT_LANDING,
    log:
        "logs/claims.log",
    benchmark:
        "results/benchmarks/jobs/claims.tsv"
    conda:
        "../envs/overparam.yaml"
    params:
        **code_params("claims.py"),
        # the report shows the config: any change of it re-writes the pages (a hash, keys
        # sorted, so that reordering the config's keys is no change)
        config_hash=config_hash(config),
        seeds={e: _experiments.get(e).seed_summary(config[e]) for e in sorted(EXPERIMENTS)},
        # the workflow's description, which the report's opening page continues with (the
        # hash of its text is a param: an edit of it re-writes the page)
        landing_hash=_codehash.file_hash(LANDING_TEMPLATE),
        # the experiments' descriptions, shown in the report (hashes: an edit re-writes the
        # pages; not inputs, whose paths would name this checkout)
        captions=caption_hashes(),
    message:
        "collect every experiment's claims and write the report's pages"
    script:
        "../scripts/claims.py"


rule manifest:
    input:
        claims=rules.claims.output.parquet,
        figures=expand(rules.figure.output, exp=EXPERIMENTS),
        benchmarks=rules.benchmarks.output[0],
    output:
        "figures/all",
    log:
        "logs/manifest.log",
    conda:
        "../envs/overparam.yaml"
    params:
        **code_params("manifest.py"),
    message:
        "write the manifest (every figure with its claims); fail if a sanity check fails"
    script:
        "../scripts/manifest.py"


rule strict:
    input:
        rules.claims.output.parquet,
    output:
        "results/claims.verified",
    log:
        "logs/strict.log",
    conda:
        "../envs/overparam.yaml"
    params:
        **code_params("strict.py"),
    message:
        "strict mode: fail unless every claim holds"
    script:
        "../scripts/strict.py"


onsuccess:
    from overparam.steps import verdicts as _verdicts_of

    _verdicts = _verdicts_of(
        rules.claims.output.parquet,
        expand(rules.check.output[0], exp=EXPERIMENTS),
        update="run `snakemake figures/all` to update it",
    )
    if _verdicts:
        print(f"\n{_verdicts}")


# On a cluster (profiles/slurm) the small steps run in the Snakemake process itself, not as
# sbatch jobs of their own: each reads and writes a few tables in seconds, while an sbatch job
# costs a scheduling round trip and two Snakemake starts. The dataset, train and solve jobs
# are submitted.
localrules:
    aggregate,
    figure,
    check,
    benchmarks,
    claims,
    manifest,
    strict,
