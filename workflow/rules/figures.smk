rule figures:
    input:
        "results/figures/index.html",


rule figures_index:
    input:
        expand("results/figures/{paper}", paper=FIGURES),
    output:
        "results/figures/index.html",
    log:
        "results/logs/figures/index.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag report figures {input:q} --out {output} > {log} 2>&1"


rule figure:
    input:
        unpack(figure_inputs),
    output:
        report(
            directory("results/figures/{paper}"),
            patterns=["{name}.png"],
            caption="../report/figure.rst",
            category="Paper figures",
            subcategory="{paper}",
            labels={"paper": "{paper}", "figure": "{name}"},
        ),
    wildcard_constraints:
        paper="|".join(PAPERS),
    params:
        args=figure_args,
    log:
        "results/logs/figures/{paper}.log",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=180,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag figure {wildcards.paper} --out {output} {params.args} > {log} 2>&1"
