# fMRI functional connectivity per session and QC-FC across them (analyses: connectivity).


rule connectivity:
    input:
        clean=lambda wc: session_outputs(wc.dataset, layout.CLEAN_ZARR),
        raw=lambda wc: session_outputs(wc.dataset, layout.RAW_ZARR),
    output:
        results=directory(layout.CONNECTIVITY),
    params:
        stores=lambda wc: shlex.join(session_keyed(wc.dataset, "clean", layout.CLEAN_ZARR)
                                     + session_keyed(wc.dataset, "raw", layout.RAW_ZARR)),
        args=lambda wc: analysis_args(wc, "connectivity"),
    log:
        layout.log("connectivity", "{dataset}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag connectivity {params.stores} --out results={output.results:q} {params.args} "
        "> {log} 2>&1"
