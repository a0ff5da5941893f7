rule preprocess:
    input:
        raw=layout.RAW_ZARR,
    output:
        clean=directory(layout.CLEAN_ZARR),
        qc=layout.QC_JSON,
    params:
        args=preprocess_args,
    log:
        layout.log("preprocess", "{dataset}", "{session}"),
    threads: 1
    resources:
        mem_mb=lambda wc, input: preprocess_resources(input)["mem_mb"],
        runtime=lambda wc, input: preprocess_resources(input)["runtime"],
    conda:
        "../../envs/preprocess.yaml"
    shell:
        "neurodag preprocess --in raw={input.raw:q} --out clean={output.clean:q} "
        "--out qc={output.qc:q} {params.args} > {log} 2>&1"
