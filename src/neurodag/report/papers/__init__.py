"""Reproduced paper figures: one module per paper, each with ``run(out_dir, seed, quick)``.

:data:`PAPERS` maps the figure folder name (``results/figures/{paper}/``) to its module:

- ``onehot-glmhmm`` (:mod:`.onehot_glmhmm`): one-hot GLM-HMM (ICLR 2024), metrics against
  training-set size for the naive, Gaussian and one-hot priors.
- ``trsa`` (:mod:`.trsa`): topological RSA, layer identification across network seeds over
  the (l, u) grid and against noise.
- ``geometric-stability`` (:mod:`.geometric_stability`): Shesha feature-split stability of a
  ring code against its topology, and nearest-neighbour readout.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from ...errors import InputError

PAPERS = {
    "onehot-glmhmm": "onehot_glmhmm",
    "trsa": "trsa",
    "geometric-stability": "geometric_stability",
}


def _progress(message: str) -> None:
    import datetime as dt

    print(f"{dt.datetime.now():%H:%M:%S} {message}", flush=True)


def run(paper: str, out_dir, *, seed: int = 0, quick: bool = False) -> list[Path]:
    """Reproduce ``paper``'s figure into ``out_dir`` (PNG plus the plotted numbers in JSON).

    Progress goes to stdout with a time stamp (the rule's log)."""
    if paper not in PAPERS:
        import difflib

        close = difflib.get_close_matches(paper, list(PAPERS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; expected one of {list(PAPERS)}"
        raise InputError(f"figure {paper!r} is unknown{hint}")
    module = import_module(f".{PAPERS[paper]}", __name__)
    return module.run(Path(out_dir), seed=seed, quick=quick, progress=_progress)
