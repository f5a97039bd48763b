# All experiments -> results/claims.parquet, results/claims.md, the job benchmarks table and
# the manifest figures/all.


rule all:
    default_target: True
    input:
        "figures/all",


rule benchmarks:
    input:
        [path for path, _ in job_benchmarks()],
    output:
        "results/benchmarks/jobs.parquet",
    log:
        "logs/benchmarks.log",
    benchmark:
        "results/benchmarks/jobs/benchmarks.tsv"
    conda:
        "../envs/overparam.yaml"
    params:
        # {file: (rule, experiment, job)}, sorted by file: reordering the config's keys
        # must not look like a change of params
        labels={path: list(label) for path, label in sorted(job_benchmarks())},
    message:
        "collect the time and memory of every job"
    script:
        "../scripts/benchmarks.py"


rule claims:
    input:
        claims=expand(rules.check.output[0], exp=EXPERIMENTS),
        figures=expand(rules.figure.output, exp=EXPERIMENTS),
        benchmarks=rules.benchmarks.output[0],
    output:
        parquet="results/claims.parquet",
        markdown="results/claims.md",
        manifest="figures/all",
    log:
        "logs/claims.log",
    benchmark:
        "results/benchmarks/jobs/claims.tsv"
    conda:
        "../envs/overparam.yaml"
    message:
        "collect every experiment's claims and write the manifest"
    script:
        "../scripts/claims.py"
