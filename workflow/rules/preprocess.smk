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
        mem_mb=lambda wc, input: preprocess_resources(input)["mem_mb"],
        runtime=lambda wc, input: preprocess_resources(input)["runtime"],
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "neurodag preprocess {input} --out results/{wildcards.dataset}/{wildcards.session} "
        "{params.args} > {log} 2>&1"
