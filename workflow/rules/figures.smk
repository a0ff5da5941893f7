from neurodag.report.papers import PAPERS

FIGURES = config["figures"].get("papers") or list(PAPERS)


rule figures:
    input:
        expand("results/figures/{paper}", paper=FIGURES),


rule figure:
    output:
        directory("results/figures/{paper}"),
    wildcard_constraints:
        paper="|".join(PAPERS),
    params:
        seed=config["seed"],
        quick="--quick" if config["figures"]["quick"] else "",
    log:
        "results/logs/figures/{paper}.log",
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    conda:
        "../../envs/models.yaml"
    shell:
        "neurodag figure {wildcards.paper} --out {output} --seed {params.seed} {params.quick} "
        "> {log} 2>&1"
