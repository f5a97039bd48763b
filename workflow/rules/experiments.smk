# The four steps every experiment goes through. What differs between experiments lives in
# src/overparam/experiments/<exp>.py (jobs, run, aggregate, plot, check), selected by {exp}.


rule run:
    input:
        job_inputs,
    output:
        "results/{exp}/runs/{job}.parquet",
    params:
        cfg=lambda w: run_params(w.exp),
        device=config["device"],
    log:
        "logs/{exp}/run_{job}.log",
    threads: lambda w: job_threads(w.exp)
    resources:
        gpu=lambda w: uses_gpu(w.exp),
    conda:
        "../envs/overparam.yaml"
    script:
        "../scripts/run.py"


rule aggregate:
    input:
        run_tables,
    output:
        metrics="results/{exp}/metrics.parquet",
        provenance="results/{exp}/provenance.json",
    params:
        cfg=lambda w: run_params(w.exp),
    log:
        "logs/{exp}/aggregate.log",
    conda:
        "../envs/overparam.yaml"
    script:
        "../scripts/aggregate.py"


rule figure:
    input:
        "results/{exp}/metrics.parquet",
    output:
        png=report("figures/{exp}.png", caption="../report/figure.rst", category="Figures"),
        pdf="figures/{exp}.pdf",
    params:
        cfg=lambda w: canonical(config[w.exp]),
    log:
        "logs/{exp}/figure.log",
    conda:
        "../envs/overparam.yaml"
    script:
        "../scripts/figure.py"


rule check:
    input:
        "results/{exp}/metrics.parquet",
    output:
        "results/{exp}/claims.parquet",
    params:
        cfg=lambda w: canonical(config[w.exp]),
        scale=config["scale"],
    log:
        "logs/{exp}/check.log",
    conda:
        "../envs/overparam.yaml"
    script:
        "../scripts/check.py"
