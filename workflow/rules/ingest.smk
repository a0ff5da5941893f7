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
    params:
        options=ingest_options,
    log:
        "results/logs/ingest/{dataset}/{session}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag ingest {input:q} --out results/{wildcards.dataset}/{wildcards.session} "
        "{params.options} > {log} 2>&1"
