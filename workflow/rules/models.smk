rule fit_glmhmm:
    input:
        signal=lambda wc: analysis_input(wc, "glmhmm"),
    output:
        fits=directory(layout.GLMHMM),
    params:
        args=lambda wc: analysis_args(wc, "glmhmm"),
    log:
        layout.log("fit_glmhmm", "{dataset}", "{session}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=1 if config["gpu"] else 0,
    conda:
        "../../envs/models-gpu.yaml"
    shell:
        "neurodag fit-glmhmm --in signal={input.signal:q} --out fits={output.fits:q} "
        "--set session={wildcards.session} {params.args} > {log} 2>&1"


# Trial tables: every session of every subject in one fit (the global model, then one per
# subject); "pooled" would also match fit_glmhmm's {session}.
ruleorder: fit_glmhmm_pooled > fit_glmhmm


rule fit_glmhmm_pooled:
    input:
        tables=lambda wc: session_outputs(wc.dataset, layout.RAW_ZARR),
    output:
        fits=directory(layout.GLMHMM_POOLED),
    params:
        args=lambda wc: analysis_args(wc, "glmhmm"),
    log:
        layout.log("fit_glmhmm", "{dataset}", "pooled"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=1 if config["gpu"] else 0,
    conda:
        "../../envs/models-gpu.yaml"
    shell:
        "neurodag fit-glmhmm-pooled {input.tables:q} --out fits={output.fits:q} {params.args} "
        "> {log} 2>&1"


rule trsa:
    input:
        sessions=lambda wc: analysis_inputs(wc, "trsa"),
    output:
        results=directory(layout.TRSA),
    params:
        args=lambda wc: analysis_args(wc, "trsa"),
    log:
        layout.log("trsa", "{dataset}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag trsa {input.sessions:q} --out results={output.results:q} {params.args} "
        "> {log} 2>&1"


rule fit_ntf:
    input:
        unpack(ntf_inputs),
    output:
        fits=directory(layout.NTF),
    params:
        inputs=ntf_args,
        args=lambda wc: analysis_args(wc, "ntf"),
    log:
        layout.log("fit_ntf", "{dataset}"),
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag fit-ntf {params.inputs} --out fits={output.fits:q} {params.args} "
        "> {log} 2>&1"


rule train_denoiser:
    input:
        reference=f"{REFERENCE_CACHE}/spkit",
    output:
        checkpoint=directory(layout.DENOISER),
    wildcard_constraints:
        budget="small|default",
    params:
        args=denoiser_args,
    log:
        layout.log("train_denoiser", "{budget}"),
    threads: 2
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=1 if config["gpu"] else 0,
    conda:
        "../../envs/models-gpu.yaml"
    shell:
        "neurodag train-denoiser --in reference={input.reference:q} "
        "--out checkpoint={output.checkpoint:q} {params.args} > {log} 2>&1"


rule denoise:
    input:
        signal=layout.RAW_ZARR,
        model=DENOISER,
    output:
        denoised=directory(layout.DENOISED_ZARR),
    params:
        device="cuda" if config["gpu"] else "cpu",
        digest=lambda wc: dataset_digest(config, wc.dataset, "denoise"),
    log:
        layout.log("denoise", "{dataset}", "{session}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=1 if config["gpu"] else 0,
    conda:
        "../../envs/models-gpu.yaml"
    shell:
        "neurodag denoise --in signal={input.signal:q} --in model={input.model:q} "
        "--out denoised={output.denoised:q} --device {params.device} "
        "--config-digest {params.digest} > {log} 2>&1"
