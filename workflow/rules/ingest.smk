rule fetch_reference:
    output:
        directory(f"{REFERENCE_CACHE}/{{reference}}"),
    params:
        cache=lambda wc, output: os.path.dirname(output[0]),
    log:
        "results/logs/fetch_reference/{reference}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=20,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag fetch-reference {wildcards.reference} --cache {params.cache:q} > {log} 2>&1"


rule synthesize:
    output:
        directory("results/{dataset}/{session}/synthetic"),
    params:
        options=synth_options,
    log:
        "results/logs/synthesize/{dataset}/{session}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag synth {params.options} --out {output} > {log} 2>&1"


rule ingest:
    input:
        ingest_inputs,
    output:
        nwb="results/{dataset}/{session}/raw.nwb",
        zarr=directory("results/{dataset}/{session}/raw.zarr"),
        dandi="results/{dataset}/{session}/dandi.json",
    params:
        args=ingest_args,
    log:
        "results/logs/ingest/{dataset}/{session}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag ingest {params.args} --out results/{wildcards.dataset}/{wildcards.session} "
        "> {log} 2>&1"


rule ingest_connectome:
    input:
        ingest_inputs,
    output:
        directory("results/{dataset}/{session}/connectome.zarr"),
    params:
        args=ingest_args,
    log:
        "results/logs/ingest/{dataset}/{session}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag ingest {params.args} --out results/{wildcards.dataset}/{wildcards.session} "
        "> {log} 2>&1"
