# Datasets generated offline and cached as pipeline steps (nothing is downloaded).


rule mnist1d:
    output:
        "results/data/mnist1d_n{num_samples}_split{train_split}_seed{seed}.npz",
    log:
        "logs/data/mnist1d_n{num_samples}_split{train_split}_seed{seed}.log",
    wildcard_constraints:
        num_samples=r"\d+",
        train_split=r"0\.\d+",
        seed=r"\d+",
    conda:
        "../envs/overparam.yaml"
    script:
        "../scripts/mnist1d.py"
