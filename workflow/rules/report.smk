rule report_dataset:
    input:
        unpack(report_inputs),
    output:
        html=report(
            "results/reports/{dataset}.html",
            caption="../report/dataset.rst",
            category="Datasets",
            labels={"dataset": "{dataset}"},
        ),
        figures=directory("results/reports/{dataset}"),
    wildcard_constraints:
        dataset=r"(?!index(?:\.html)?$)[A-Za-z][A-Za-z0-9_-]*",
    params:
        options=report_options,
    log:
        "results/logs/report/{dataset}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/report.yaml"
    shell:
        "neurodag report dataset {wildcards.dataset} {input.raw:q} --out {output.html} "
        "{params.options} > {log} 2>&1"


rule report_index:
    input:
        expand("results/reports/{dataset}.html", dataset=reported_datasets()),
    output:
        "results/reports/index.html",
    params:
        title=config["report"]["title"],
    log:
        "results/logs/report/index.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/report.yaml"
    shell:
        "neurodag report index {input:q} --out {output} --title {params.title:q} > {log} 2>&1"
