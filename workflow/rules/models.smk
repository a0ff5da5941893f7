rule fit_glmhmm:
    input:
        glmhmm_input,
    output:
        directory("results/{dataset}/models/glmhmm/{session}"),
    params:
        args=lambda wc: analysis_args(wc, "glmhmm"),
    log:
        "results/logs/fit_glmhmm/{dataset}/{session}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=1 if config["gpu"] else 0,
    conda:
        "../../envs/models-gpu.yaml"
    shell:
        "neurodag fit-glmhmm {input} --out {output} {params.args} > {log} 2>&1"


rule trsa:
    input:
        trsa_inputs,
    output:
        directory("results/{dataset}/models/trsa"),
    params:
        args=lambda wc: analysis_args(wc, "trsa"),
    log:
        "results/logs/trsa/{dataset}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag trsa {input:q} --out {output} {params.args} > {log} 2>&1"
