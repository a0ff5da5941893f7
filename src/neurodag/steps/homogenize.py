"""The ``homogenize`` step: per-session stores of one or more datasets into one store."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError, check_known
from . import channels, connectomes, worms

#: What the homogenize step does for each kind of dataset, and the function taking the options.
KINDS = {"worms": worms.stack, "connectome": connectomes.merge, "channels": channels.stack}


def run(kind: str, stores: Iterable[str | Path], out: str | Path, *, config_digest: str = "",
        **options) -> Path:
    """The homogenize step: per-session stores ``results/{dataset}/{session}/X.zarr`` (of one
    dataset or several) into one ``out`` store.

    Session names in the output are the session ids, prefixed by the dataset
    (``dataset/session``) when the stores come from more than one dataset; connectome
    annotations are named by their session id. Unknown ``options`` are one-line
    ConfigErrors naming the closest valid one.
    """
    if kind not in KINDS:
        raise InputError(f"homogenize: kind {kind!r} is unknown; expected one of {list(KINDS)}")
    takes = inspect.signature(KINDS[kind]).parameters
    check_known(f"homogenize {kind}", options,
                [k for k, p in takes.items() if p.kind is not p.VAR_POSITIONAL
                 and k not in ("datasets", "sessions", "connectomes")])
    by_dataset: dict[str, dict[str, Path]] = {}
    for p in map(Path, stores):
        by_dataset.setdefault(p.parent.parent.name, {})[p.parent.name] = p
    if kind == "worms":
        return worms.run(by_dataset, out, config_digest=config_digest, **options)
    if kind == "connectome":
        flat = {s: p for sessions in by_dataset.values() for s, p in sessions.items()}
        return connectomes.run_stores(flat, out, config_digest=config_digest, **options)
    flat = {f"{d}/{s}" if len(by_dataset) > 1 else s: p
            for d, sessions in by_dataset.items() for s, p in sessions.items()}
    return channels.run(flat, out, config_digest=config_digest, **options)
