"""Reproduced paper figures: one module per paper, each with ``run(out_dir, seed, quick)``.

:data:`PAPERS` maps the figure folder name (``results/figures/{paper}/``) to its module:

- ``onehot-glmhmm`` (:mod:`.onehot_glmhmm`): one-hot GLM-HMM (ICLR 2024), metrics against
  training-set size for the naive, Gaussian and one-hot priors.
- ``trsa`` (:mod:`.trsa`): topological RSA, layer identification of All-CNN-C-style nets
  across seeds by the RDM, GT(0, 1), the five (l, u) families and the best (l, u), against
  noise, with bootstrap intervals; states the paper's claim and whether it reproduces.
- ``geometric-stability`` (:mod:`.geometric_stability`): Shesha feature-split stability of a
  ring code against its topology, and nearest-neighbour readout.
- ``dynamic-connectome`` (:mod:`.dynamic_connectome`): planted dynamic communities recovered by
  non-negative tensor factorization, community detection on weighted LFR graphs, and worms
  simulated from the Cook 2019 connectome (``cache_dir``).
- ``emg-denoising`` (:mod:`.emg_denoising`): the compact AT-AT-style EMG denoiser against
  band-pass, ICA + ICLabel and a fully connected network over SNR (``checkpoint``).
- ``ashwood-glmhmm`` (:mod:`.ashwood_glmhmm`): GLM-HMM on simulated choices (Ashwood et al.
  2022): weights, transitions and states recovered; GLM, lapse model and GLM-HMMs compared
  by held-out bits per trial.

Each module also has ``compare(out_dir)``: our numbers beside the published ones; and may
have ``summary(out_dir)``: one paragraph (the claim tested, and whether it reproduces) shown
above them.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from pathlib import Path

from ...errors import InputError, check_known

PAPERS = {
    "onehot-glmhmm": "onehot_glmhmm",
    "trsa": "trsa",
    "geometric-stability": "geometric_stability",
    "dynamic-connectome": "dynamic_connectome",
    "emg-denoising": "emg_denoising",
    "ashwood-glmhmm": "ashwood_glmhmm",
}


def _progress(message: str) -> None:
    import datetime as dt

    print(f"{dt.datetime.now():%H:%M:%S} {message}", flush=True)


def needs(paper: str, *, quick: bool, reference_cache: str,
          models: str = "results/models") -> tuple[dict[str, str], dict[str, str]]:
    """What ``paper``'s figure reads besides its own simulation: ``(inputs, options)``, the
    files (``{name: path}``, for the DAG) and the :func:`run` options that point at them."""
    if paper == "dynamic-connectome":       # the C. elegans demonstration: Cook 2019 (cect)
        return {"cect": f"{reference_cache}/cect"}, {"cache_dir": reference_cache}
    if paper == "emg-denoising" and not quick:   # the full-size checkpoint, real EEG (spkit)
        model = f"{models}/denoiser_default"
        return ({"model": model, "spkit": f"{reference_cache}/spkit"},
                {"checkpoint": model, "cache_dir": reference_cache})
    return {}, {}


def run(paper: str, out_dir, *, seed: int = 0, quick: bool = False, **options) -> list[Path]:
    """Reproduce ``paper``'s figure into ``out_dir`` (PNG plus the plotted numbers in JSON).

    Progress goes to stdout with a time stamp (the rule's log)."""
    if paper not in PAPERS:
        import difflib

        close = difflib.get_close_matches(paper, list(PAPERS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; expected one of {list(PAPERS)}"
        raise InputError(f"figure {paper!r} is unknown{hint}")
    module = import_module(f".{PAPERS[paper]}", __name__)
    accepted = set(inspect.signature(module.run).parameters) - {"out_dir", "seed", "quick",
                                                                 "progress"}
    check_known(f"figure {paper}", options, accepted)
    out = module.run(Path(out_dir), seed=seed, quick=quick, progress=_progress, **options)
    return out if isinstance(out, list) else [out]


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def index_page(folders, out_html) -> Path:
    """``results/figures/index.html``: every reproduced figure with our numbers beside the
    published ones (each paper module's ``compare``)."""
    import os
    from urllib.parse import quote

    from ... import __version__
    from ...provenance import now
    from ...store import atomic_path, read_json
    from ..pages import CSS, _env, _write_css

    out_html = Path(out_html)
    papers = []
    for folder in map(Path, folders):
        name = folder.name
        if name not in PAPERS or not folder.is_dir():
            raise InputError(f"{folder}: not a figure folder of {list(PAPERS)}")
        module = import_module(f".{PAPERS[name]}", __name__)
        rel = quote(Path(os.path.relpath(folder, out_html.parent)).as_posix())
        jsons = sorted(folder.glob("*.json"))
        numbers = [read_json(p, "figure JSON") for p in jsons]
        quick = any(d.get("quick", d.get("attrs", {}).get("quick")) for d in numbers)
        rows = [dict(r, ours=_fmt(r["ours"])) for r in module.compare(folder)]
        summary = getattr(module, "summary", None)
        papers.append({
            "name": name, "citation": module.PAPER, "quick": quick,
            "summary": summary(folder) if summary else "",
            "rows": rows,
            "figures": [{"src": f"{rel}/{quote(p.name)}", "alt": f"{name}: {p.stem}"}
                        for p in sorted(folder.glob("*.png"))],
            "json": [{"src": f"{rel}/{quote(p.name)}", "name": p.name} for p in jsons],
        })
    css = quote(os.path.relpath(out_html.parent.parent / "reports" / CSS, out_html.parent))
    with atomic_path(out_html) as tmp:
        tmp.write_text(_env().get_template("figures.html").render(
            title="Paper figures — neurodag", papers=papers, css=css, version=__version__,
            created=now()), encoding="utf-8")
    (out_html.parent.parent / "reports").mkdir(parents=True, exist_ok=True)
    _write_css(out_html.parent.parent / "reports")
    return out_html
