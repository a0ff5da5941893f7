# fMRI functional connectivity per session and QC-FC across them (analyses: connectivity).


rule connectivity:
    input:
        unpack(connectivity_inputs),
    output:
        directory("results/{dataset}/models/connectivity"),
    params:
        args=lambda wc: analysis_args(wc, "connectivity"),
    log:
        "results/logs/connectivity/{dataset}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag connectivity {input.clean:q} --out {output} {params.args} > {log} 2>&1"
