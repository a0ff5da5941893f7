rule homogenize:
    input:
        homogenize_inputs,
    output:
        directory("results/{dataset}/homogenized.zarr"),
    params:
        kind=homogenize_kind,
        args=homogenize_args,
    log:
        "results/logs/homogenize/{dataset}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "neurodag homogenize {params.kind} {input:q} --out {output} {params.args} > {log} 2>&1"


rule merge_connectomes:
    input:
        homogenize_inputs,
    output:
        directory("results/{dataset}/connectome.zarr"),
    params:
        args=homogenize_args,
    log:
        "results/logs/homogenize/{dataset}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag homogenize connectome {input:q} --out {output} {params.args} > {log} 2>&1"
