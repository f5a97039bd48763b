# The steps every experiment goes through: train or solve each job -> aggregate -> figure and
# check. What differs between experiments lives in src/overparam/experiments/<exp>/.


rule train:
    input:
        unpack(job_inputs),
    output:
        RUN_TABLE,
    log:
        "logs/{exp}/run_{job}.log",
    benchmark:
        expand(BENCHMARKS, step="train_{job}", allow_missing=True)[0]
    wildcard_constraints:
        exp=TRAIN_EXP,
        job=TRAIN_JOB,
    priority: job_priority
    conda:
        "../envs/overparam.yaml"
    threads: job_threads
    resources:
        # a scheduler places the job by these (config: threads, mem_mb, runtime per experiment
        # or global); gpu: 1 where training runs on CUDA (a SLURM profile may ask for one)
        gpu=uses_gpu(),
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    params:
        **JOB_PARAMS,
        **code_params("run.py"),
        device=config["device"],
    message:
        "{wildcards.exp}: train job {wildcards.job}"
    script:
        "../scripts/run.py"


rule solve:
    input:
        unpack(job_inputs),
    output:
        RUN_TABLE,
    log:
        "logs/{exp}/run_{job}.log",
    benchmark:
        expand(BENCHMARKS, step="solve_{job}", allow_missing=True)[0]
    wildcard_constraints:
        exp=SOLVE_EXP,
        job=SOLVE_JOB,
    priority: job_priority
    conda:
        "../envs/overparam.yaml"
    resources:
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    params:
        **JOB_PARAMS,
        **code_params("run.py"),
        device="cpu",
    message:
        "{wildcards.exp}: solve job {wildcards.job}"
    script:
        "../scripts/run.py"


rule aggregate:
    input:
        run_tables,
    output:
        metrics="results/{exp}/metrics.parquet",
        provenance="results/{exp}/provenance.json",
    log:
        "logs/{exp}/aggregate.log",
    benchmark:
        expand(BENCHMARKS, step="aggregate", allow_missing=True)[0]
    conda:
        "../envs/overparam.yaml"
    params:
        **code_params("aggregate.py"),
        cfg=lambda w: section_params(w.exp),
    message:
        "{wildcards.exp}: aggregate the run tables"
    script:
        "../scripts/aggregate.py"


rule figure:
    input:
        metrics=rules.aggregate.output.metrics,
    output:
        png=report("figures/{exp}.png", caption=figure_caption(), category=report_category),
        pdf="figures/{exp}.pdf",
    log:
        "logs/{exp}/figure.log",
    benchmark:
        expand(BENCHMARKS, step="figure", allow_missing=True)[0]
    conda:
        "../envs/overparam.yaml"
    params:
        **code_params("figure.py"),
        cfg=lambda w: section_params(w.exp, without=("mem_mb", "runtime")),
        seeds=lambda w: _experiments.get(w.exp).seed_summary(config[w.exp]),
        # the claims' definitions (a figure may draw a threshold)
        definitions=claim_definitions,
    message:
        "{wildcards.exp}: draw the figure"
    script:
        "../scripts/figure.py"


rule check:
    input:
        metrics=rules.aggregate.output.metrics,
    output:
        "results/{exp}/claims.parquet",
    log:
        "logs/{exp}/check.log",
    benchmark:
        expand(BENCHMARKS, step="check", allow_missing=True)[0]
    conda:
        "../envs/overparam.yaml"
    params:
        **code_params("check.py"),
        cfg=lambda w: section_params(w.exp, without=("mem_mb", "runtime")),
        scale=config["scale"],
        bootstrap=config["bootstrap"],
        figure=lambda w: expand(rules.figure.output.png, exp=w.exp)[0],
        # the experiment's claims.yaml: editing a claim's definition re-checks it
        definitions=claim_definitions,
    message:
        "{wildcards.exp}: check the claims"
    script:
        "../scripts/check.py"
