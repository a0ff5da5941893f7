rule preprocess:
    input:
        "results/{dataset}/{session}/raw.zarr",
    output:
        clean=directory("results/{dataset}/{session}/clean.zarr"),
        qc="results/{dataset}/{session}/qc.json",
    params:
        args=preprocess_args,
    log:
        "results/logs/preprocess/{dataset}/{session}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "neurodag preprocess {input} --out results/{wildcards.dataset}/{wildcards.session} "
        "{params.args} > {log} 2>&1"
