"""Reproduced paper figures: one module per paper, each with ``run(out_dir, seed, quick)``
(the ``figure`` step, :mod:`neurodag.steps.figure`, runs them).

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

from collections.abc import Mapping
from importlib import import_module
from pathlib import Path

from ...errors import InputError

PAPERS = {
    "onehot-glmhmm": "onehot_glmhmm",
    "trsa": "trsa",
    "geometric-stability": "geometric_stability",
    "dynamic-connectome": "dynamic_connectome",
    "emg-denoising": "emg_denoising",
    "ashwood-glmhmm": "ashwood_glmhmm",
}


def module(paper: str):
    """The module of ``paper``'s figure (a key of :data:`PAPERS`)."""
    if paper not in PAPERS:
        raise InputError(f"figure {paper!r} is unknown; expected one of {list(PAPERS)}")
    return import_module(f".{PAPERS[paper]}", __name__)


def needs(paper: str, *, quick: bool, reference_cache: str
          ) -> tuple[dict[str, str], dict[str, str]]:
    """What ``paper``'s figure reads besides its own simulation: ``(inputs, options)``, the
    files (``{name: path}``, for the DAG) and the figure step's options that point at them."""
    from ... import layout

    if paper == "dynamic-connectome":       # the C. elegans demonstration: Cook 2019 (cect)
        return {"cect": f"{reference_cache}/cect"}, {"cache_dir": reference_cache}
    if paper == "emg-denoising" and not quick:   # the full-size checkpoint, real EEG (spkit)
        model = layout.path(layout.DENOISER, budget="default")
        return ({"model": model, "spkit": f"{reference_cache}/spkit"},
                {"checkpoint": model, "cache_dir": reference_cache})
    return {}, {}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def index_page(folders, out_html, *, at=None) -> Path:
    """``results/figures/index.html``: every reproduced figure with our numbers beside the
    published ones (each paper module's ``compare``); ``folders`` is ``{paper: folder}``,
    ``at`` where the page will live when it is written elsewhere first."""
    import os
    from urllib.parse import quote

    from ... import __version__
    from ...provenance import now
    from ...store import atomic_path, read_json
    from ..pages import CSS, _env, _write_css

    out_html = Path(out_html)
    home = Path(at).parent if at is not None else out_html.parent
    papers = []
    if not isinstance(folders, Mapping):   # a list: each folder is named after its paper
        folders = {Path(f).name: f for f in folders}
    for name, folder in folders.items():
        folder = Path(folder)
        if name not in PAPERS or not folder.is_dir():
            raise InputError(f"{folder}: not a figure folder of {list(PAPERS)}")
        module = import_module(f".{PAPERS[name]}", __name__)
        rel = quote(Path(os.path.relpath(folder, home)).as_posix())
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
    css = quote(os.path.relpath(home.parent / "reports" / CSS, home))
    with atomic_path(out_html) as tmp:
        tmp.write_text(_env().get_template("figures.html").render(
            title="Paper figures — neurodag", papers=papers, css=css, version=__version__,
            created=now()), encoding="utf-8")
    (home.parent / "reports").mkdir(parents=True, exist_ok=True)
    _write_css(home.parent / "reports")
    return out_html
