# Datasets generated offline and cached as pipeline steps (nothing is downloaded).


rule mnist1d:
    output:
        "results/data/mnist1d_n{num_samples}_split{train_split}_seed{seed}.npz",
    log:
        "logs/data/mnist1d_n{num_samples}_split{train_split}_seed{seed}.log",
    benchmark:
        "results/benchmarks/jobs/data/mnist1d_n{num_samples}_split{train_split}_seed{seed}.tsv"
    wildcard_constraints:
        num_samples=r"\d+",
        train_split=r"0\.\d+",
        seed=r"\d+",
    priority: DATA_PRIORITY
    conda:
        "../envs/overparam.yaml"
    params:
        **code_params("mnist1d.py"),
    message:
        "MNIST-1D: {wildcards.num_samples} samples, split {wildcards.train_split}, seed {wildcards.seed}"
    script:
        "../scripts/mnist1d.py"
