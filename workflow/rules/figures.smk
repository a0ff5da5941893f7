rule figures:
    input:
        layout.FIGURES_INDEX,


rule figures_index:
    input:
        folders=expand(layout.FIGURE, paper=FIGURES),
    output:
        page=layout.FIGURES_INDEX,
    params:
        folders=lambda wc: shlex.join(keyed("folders", {p: layout.path(layout.FIGURE, paper=p)
                                                        for p in FIGURES})),
    log:
        layout.log("figures", "index"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag report figures {params.folders} --out page={output.page:q} > {log} 2>&1"


rule figure:
    input:
        unpack(figure_inputs),
    output:
        figure=report(
            directory(layout.FIGURE),
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
        layout.log("figures", "{paper}"),
    threads: 2
    resources:
        mem_mb=6000,
        runtime=180,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag figure {wildcards.paper} --out figure={output.figure:q} {params.args} "
        "> {log} 2>&1"
