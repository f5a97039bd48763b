# All experiments -> results/claims.parquet, results/claims.md and the manifest figures/all.


rule all:
    default_target: True
    input:
        "figures/all",


rule claims:
    input:
        claims=expand("results/{exp}/claims.parquet", exp=EXPERIMENTS),
        figures=expand("figures/{exp}.{ext}", exp=EXPERIMENTS, ext=["png", "pdf"]),
    output:
        parquet="results/claims.parquet",
        markdown="results/claims.md",
        manifest="figures/all",
    params:
        scale=config["scale"],
    log:
        "logs/claims.log",
    conda:
        "../envs/overparam.yaml"
    script:
        "../scripts/claims.py"
