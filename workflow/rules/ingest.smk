rule fetch_reference:
    output:
        cache=directory(layout.path(layout.REFERENCE, cache=REFERENCE_CACHE, reference="{reference}")),
    log:
        layout.log("fetch_reference", "{reference}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=20,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag fetch-reference {wildcards.reference} --out cache={output.cache:q} > {log} 2>&1"


rule synthesize:
    output:
        folder=directory(layout.SYNTHETIC),
    params:
        options=synth_options,
    log:
        layout.log("synthesize", "{dataset}", "{session}"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag synth {params.options} --out folder={output.folder:q} > {log} 2>&1"


rule ingest:
    input:
        ingest_inputs,
    output:
        nwb=layout.RAW_NWB,
        zarr=directory(layout.RAW_ZARR),
        dandi=layout.DANDI_JSON,
    params:
        args=ingest_args,
    log:
        layout.log("ingest", "{dataset}", "{session}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag ingest {params.args} --out zarr={output.zarr:q} --out nwb={output.nwb:q} "
        "--out dandi={output.dandi:q} > {log} 2>&1"


rule ingest_connectome:
    input:
        ingest_inputs,
    output:
        connectome=directory(layout.SESSION_CONNECTOME),
    params:
        args=ingest_args,
    log:
        layout.log("ingest", "{dataset}", "{session}"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/ingest.yaml"
    shell:
        "neurodag ingest-connectome {params.args} --out connectome={output.connectome:q} "
        "> {log} 2>&1"
