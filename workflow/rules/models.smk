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


# Trial tables: every session of every subject in one fit (the global model, then one per
# subject); "pooled" would also match fit_glmhmm's {session}.
ruleorder: fit_glmhmm_pooled > fit_glmhmm


rule fit_glmhmm_pooled:
    input:
        pooled_glmhmm_inputs,
    output:
        directory("results/{dataset}/models/glmhmm/pooled"),
    params:
        args=pooled_glmhmm_args,
    log:
        "results/logs/fit_glmhmm/{dataset}/pooled.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag fit-glmhmm-pooled {input:q} --out {output} {params.args} > {log} 2>&1"


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


rule fit_ntf:
    input:
        ntf_inputs,
    output:
        directory("results/{dataset}/models/ntf"),
    params:
        args=lambda wc: analysis_args(wc, "ntf", drop=()),
    log:
        "results/logs/fit_ntf/{dataset}.log",
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag fit-ntf {input:q} --out {output} {params.args} > {log} 2>&1"


rule train_denoiser:
    input:
        f"{REFERENCE_CACHE}/spkit",
    output:
        directory("results/models/denoiser_{budget}"),
    wildcard_constraints:
        budget="small|default",
    params:
        args=denoiser_args,
    log:
        "results/logs/train_denoiser/{budget}.log",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=1 if config["gpu"] else 0,
    conda:
        "../../envs/models-gpu.yaml"
    shell:
        "neurodag train-denoiser --out {output} {params.args} > {log} 2>&1"


rule denoise:
    input:
        raw="results/{dataset}/{session}/raw.zarr",
        model=DENOISER,
    output:
        directory("results/{dataset}/{session}/denoised.zarr"),
    params:
        device="cuda" if config["gpu"] else "cpu",
        digest=lambda wc: dataset_digest(config, wc.dataset, "denoise"),
    log:
        "results/logs/denoise/{dataset}/{session}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=1 if config["gpu"] else 0,
    conda:
        "../../envs/models-gpu.yaml"
    shell:
        "neurodag denoise {input.raw} --model {input.model} "
        "--out results/{wildcards.dataset}/{wildcards.session} --device {params.device} "
        "--config-digest {params.digest} > {log} 2>&1"
