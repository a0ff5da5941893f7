rule homogenize:
    input:
        homogenize_inputs,
    output:
        stacked=directory(layout.HOMOGENIZED),
    params:
        args=homogenize_args,
    log:
        layout.log("homogenize", "{dataset}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "neurodag homogenize {params.args} --out stacked={output.stacked:q} > {log} 2>&1"


rule merge_connectomes:
    input:
        homogenize_inputs,
    output:
        merged=directory(layout.MERGED_CONNECTOME),
    params:
        args=homogenize_args,
    log:
        layout.log("homogenize", "{dataset}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag merge-connectomes {params.args} --out merged={output.merged:q} > {log} 2>&1"
