rule report_dataset:
    input:
        unpack(report_inputs),
    output:
        page=report(
            layout.REPORT_PAGE,
            caption="../report/dataset.rst",
            category="Datasets",
            labels={"dataset": "{dataset}"},
        ),
        figures=directory(layout.REPORT_FIGURES),
    wildcard_constraints:
        dataset=r"(?!index(?:\.html)?$)[A-Za-z][A-Za-z0-9_-]*",
    params:
        args=report_args,
    log:
        layout.log("report", "{dataset}"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/report.yaml"
    shell:
        "neurodag report dataset {params.args} --out page={output.page:q} "
        "--out figures={output.figures:q} > {log} 2>&1"


rule report_index:
    input:
        pages=expand(layout.REPORT_PAGE, dataset=reported_datasets()),
    output:
        page=layout.REPORT_INDEX,
    params:
        pages=lambda wc: shlex.join(keyed("pages", {d: layout.path(layout.REPORT_PAGE, dataset=d)
                                                    for d in reported_datasets()})),
        title=config["report"]["title"],
    log:
        layout.log("report", "index"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/report.yaml"
    shell:
        "neurodag report index {params.pages} --out page={output.page:q} "
        "--title {params.title:q} > {log} 2>&1"
