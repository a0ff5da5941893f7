"""Many connectome annotations on the 300 canonical neurons, and their consensus.

:func:`merge` takes connectome Datasets (:mod:`neurodag.connectome`, all ``[pre, post]``)
and returns one Dataset with dims ``(annotation, pre, post, synapse)``, ``pre`` and
``post`` the canonical neurons in canonical order:

- cell names are normalised (:func:`~neurodag.homogenize.names.normalize_neuron`, without
  an AWC side); cells that are not canonical neurons (muscles, glia, other cells, CANL/R,
  male-specific neurons, AWCON/AWCOFF) are dropped, and the totals before and after are
  kept per annotation (``total_source``, ``total_canonical``) with the dropped names;
- electrical synapses are symmetrised as ``max(w[i, j], w[j, i])``: a gap junction listed
  in one direction only is a gap junction both ways, and a source that already lists both
  (every cect and WormNeuroAtlas file does; ``electrical_asymmetry`` records the sum of
  ``|w - w.T|`` before) is unchanged, so its totals stay the source's own;
- ``weight`` keeps each annotation's own units (annotation coord ``units``: synapse counts,
  contacts, EM sections, dF/F); 0 means no edge or not covered;
- ``covered`` says whether an annotation could report the pair: both cells are in the
  source and the source has that synapse type; for a functional atlas with ``q_value``,
  the pair was measured (q not NaN);
- ``edge`` says whether it does report an edge: weight > 0 for chemical and electrical;
  for a functional atlas with ``q_value``, ``q < alpha`` (0.05, as the reference pipeline
  keeps Randi et al.'s significant pairs), else weight != 0.

Consensus variables, over the annotations that cover each pair (``n_covering``):

``n_reporting``                 how many of them report an edge (``edge`` says which)
``mean_weight``, ``std_weight`` mean and spread (sd, ddof 0) of the raw weights, 0
                                included where a covering annotation has no edge; NaN
                                where none covers. Units differ between annotations, so
                                these mix units when they do; hence
``mean_normalized``,            the same over weights divided by each annotation's mean
``std_normalized``              ``|weight|`` over its reported edges of that synapse type
                                ("1 = a typical edge of this annotation").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from .. import __version__, connectome, provenance
from ..connectome import SYNAPSES
from ..errors import InputError
from .names import canonical_neurons, normalize_neuron

#: Annotations merged by default: ``{name: (reference, session)}`` of
#: :mod:`neurodag.reference` (hermaphrodite, wild type): 13 from cect, WormNeuroAtlas's
#: anatomical connectome and Randi et al. 2023's wild-type atlas. WormNeuroAtlas's
#: anatomical connectome is itself the sum of White 1986 (whole, L4) and Witvliet 2021
#: datasets 7 and 8, so those data weigh twice in the consensus; drop it (or them) from
#: ``annotations`` for a consensus of independent reconstructions. Cook 2019's male and
#: the unc-31 functional atlas are available in the registry but not merged by default.
DEFAULT_ANNOTATIONS = {
    "white1986_whole": ("cect", "white1986_whole"),
    "white1986_n2u": ("cect", "white1986_n2u"),
    "white1986_jsh": ("cect", "white1986_jsh"),
    "varshney2011": ("cect", "varshney2011"),
    "cook2019_herm": ("cect", "cook2019_herm"),
    **{f"witvliet2021_{i}": ("cect", f"witvliet2021_{i}") for i in range(1, 9)},
    "wormneuroatlas": ("wormneuroatlas", "anatomical"),
    "randi2023": ("wormneuroatlas", "functional_wt"),
}
ALPHA = 0.05


def load_references(cache_dir: str | Path, annotations: Mapping[str, tuple[str, str]]
                    | None = None) -> dict[str, xr.Dataset]:
    """Read annotations from a reference cache (:func:`neurodag.reference.fetch` fills it).

    ``annotations`` maps a name to ``(reference, session)``; by default
    :data:`DEFAULT_ANNOTATIONS`.
    """
    from .. import reference

    annotations = DEFAULT_ANNOTATIONS if annotations is None else annotations
    return {name: reference.read(ref, sess, cache_dir)
            for name, (ref, sess) in annotations.items()}


def _named(connectomes) -> dict[str, xr.Dataset]:
    if isinstance(connectomes, Mapping):
        items = [(str(k), v) for k, v in connectomes.items()]
    elif isinstance(connectomes, Sequence) and not isinstance(connectomes, (str, xr.Dataset)):
        items = [(str(getattr(g, "attrs", {}).get("annotation", i)), g)
                 for i, g in enumerate(connectomes)]
    else:
        raise InputError("merge: expected a sequence or mapping of connectome Datasets")
    if not items:
        raise InputError("merge: no connectomes given")
    names = [n for n, _ in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"merge: annotation names {dup[:3]} occur twice; pass a mapping "
                         "{name: connectome}")
    return dict(items)


def _project(g: xr.Dataset, name: str, alpha: float) -> dict:
    """One annotation on the canonical neurons: weights, coverage, edges, totals."""
    connectome.validate(g, where=f"annotation {name}")
    canon = canonical_neurons()
    index = {c: i for i, c in enumerate(canon)}
    cells = [str(c) for c in g["pre"].values]
    mapped = [normalize_neuron(c) for c in cells]
    seen: dict[str, str] = {}
    for cell, m in zip(cells, mapped, strict=True):
        if m is not None and m in seen:
            raise InputError(f"annotation {name}: cells {seen[m]!r} and {cell!r} are both "
                             f"neuron {m}")
        if m is not None:
            seen[m] = cell
    src = np.flatnonzero([m is not None for m in mapped])
    dst = np.array([index[mapped[i]] for i in src], dtype=int)
    n = len(canon)
    present = np.zeros(n, bool)
    present[dst] = True
    pair = np.outer(present, present)
    out = {"weight": {}, "covered": {}, "edge": {}, "total_source": {}, "total_canonical": {}}
    q = None
    if "q_value" in g:
        q = np.full((n, n), np.nan)
        q[np.ix_(dst, dst)] = np.asarray(g["q_value"].values, np.float64)[np.ix_(src, src)]
    asym = 0.0
    for syn in (str(s) for s in g["synapse"].values):
        full = np.asarray(g["weight"].sel(synapse=syn).values, np.float64)
        w = np.zeros((n, n))
        w[np.ix_(dst, dst)] = full[np.ix_(src, src)]
        out["total_source"][syn] = float(full.sum())
        out["total_canonical"][syn] = float(w.sum())
        covered = pair.copy()
        if syn == "electrical":
            asym = float(np.abs(w - w.T).sum())
            w = np.maximum(w, w.T)
        if syn == "functional" and q is not None:
            covered &= np.isfinite(q)
            edge = covered & (np.nan_to_num(q, nan=1.0) < alpha) & (w != 0)
        else:
            edge = covered & (w != 0)
        out["weight"][syn], out["covered"][syn], out["edge"][syn] = w, covered, edge
    out.update(q=q, asymmetry=asym, present=present,
               dropped=[c for c, m in zip(cells, mapped, strict=True) if m is None],
               renamed={c: m for c, m in zip(cells, mapped, strict=True)
                        if m is not None and m != c},
               n_cells=len(cells), attrs=g.attrs, units=str(g["weight"].attrs.get(
                   "units", g.attrs.get("units", ""))))
    return out


def merge(connectomes: Sequence[xr.Dataset] | Mapping[str, xr.Dataset], *,
          alpha: float = ALPHA) -> xr.Dataset:
    """Merge connectome annotations on the canonical neurons, with a consensus.

    Parameters
    ----------
    connectomes : sequence or mapping of connectome Datasets
        A mapping names each annotation; a sequence takes each one's ``annotation`` attr.
    alpha : float
        Significance level for edges of functional atlases with a ``q_value``.

    Returns
    -------
    xarray.Dataset
        Dims ``(annotation, pre, post, synapse)``; see :mod:`neurodag.homogenize.connectomes`.

    Raises
    ------
    InputError
        No connectomes, duplicate names, an input that breaks the connectome contract, or
        two cells of one source that are the same neuron.
    """
    named = _named(connectomes)
    if not 0 < float(alpha) < 1:
        raise InputError(f"merge: alpha must be in (0, 1), got {alpha}")
    parts = {name: _project(g, name, float(alpha)) for name, g in named.items()}
    synapses = [s for s in SYNAPSES if any(s in p["weight"] for p in parts.values())]
    canon = canonical_neurons()
    n, n_a, n_s = len(canon), len(parts), len(synapses)
    weight = np.zeros((n_a, n, n, n_s))
    covered = np.zeros((n_a, n, n, n_s), bool)
    edge = np.zeros((n_a, n, n, n_s), bool)
    totals = {k: np.full((n_a, n_s), np.nan) for k in ("total_source", "total_canonical")}
    for a, p in enumerate(parts.values()):
        for k, syn in enumerate(synapses):
            if syn in p["weight"]:
                weight[a, ..., k] = p["weight"][syn]
                covered[a, ..., k] = p["covered"][syn]
                edge[a, ..., k] = p["edge"][syn]
                for key in totals:
                    totals[key][a, k] = p[key][syn]
    dims4 = ("annotation", "pre", "post", "synapse")
    names = np.asarray(canon, dtype=object)
    ds = xr.Dataset(
        {
            "weight": (dims4, weight, {"description": "each annotation's own units; 0 = no edge"}),
            "covered": (dims4, covered),
            "edge": (dims4, edge),
            **{k: (("annotation", "synapse"), v) for k, v in totals.items()},
            "total": (("annotation", "synapse"),
                      np.where(np.isnan(totals["total_source"]), np.nan,
                               weight.sum(axis=(1, 2)))),
            "electrical_asymmetry": ("annotation", [p["asymmetry"] for p in parts.values()]),
            "n_cells_source": ("annotation", [p["n_cells"] for p in parts.values()]),
            "n_neurons": ("annotation", [int(p["present"].sum()) for p in parts.values()]),
            "neuron_present": (("annotation", "pre"),
                               np.stack([p["present"] for p in parts.values()])),
        },
        coords={
            "annotation": ("annotation", np.asarray(list(parts), dtype=object)),
            "pre": ("pre", names), "post": ("post", names.copy()),
            "synapse": ("synapse", np.asarray(synapses, dtype=object)),
            **{key: ("annotation", np.asarray(
                [str(p["attrs"].get(attr, "")) for p in parts.values()], dtype=object))
               for key, attr in (("description", "annotation"), ("source", "source"),
                                 ("source_sha256", "source_sha256"), ("citation", "citation"),
                                 ("reference", "reference"))},
            "units": ("annotation", np.asarray([p["units"] for p in parts.values()],
                                               dtype=object)),
            "dropped_cells": ("annotation", np.asarray(
                [json.dumps(p["dropped"]) for p in parts.values()], dtype=object)),
        },
    )
    if any(p["q"] is not None for p in parts.values()):
        q = np.stack([p["q"] if p["q"] is not None else np.full((n, n), np.nan)
                      for p in parts.values()])
        ds["q_value"] = (("annotation", "pre", "post"), q,
                         {"description": "functional atlases: q value; NaN = not measured or "
                                         "not a functional atlas"})
    ds = ds.merge(consensus(ds))
    ds.attrs.update(
        convention=connectome.CONVENTION, alpha=float(alpha), symmetrization="max",
        normalization="weight / mean |weight| over the annotation's reported edges of the "
                      "synapse type",
        renamed=json.dumps({a: p["renamed"] for a, p in parts.items() if p["renamed"]}),
        neurodag_version=__version__, config_digest="", created=provenance.now(),
    )
    return ds


def consensus(merged: xr.Dataset) -> xr.Dataset:
    """Consensus variables over ``(pre, post, synapse)`` from merged ``weight``/``covered``/
    ``edge`` (see the module docstring)."""
    w = merged["weight"].values
    cov = merged["covered"].values
    edge = merged["edge"].values
    n_cov = cov.sum(axis=0)
    scale = np.ones(w.shape[:1] + w.shape[3:])
    for a in range(w.shape[0]):
        for k in range(w.shape[3]):
            reported = np.abs(w[a, ..., k][edge[a, ..., k]])
            scale[a, k] = reported.mean() if reported.size else 1.0
    norm = w / scale[:, None, None, :]
    out = {}
    for key, values in (("weight", w), ("normalized", norm)):
        masked = np.where(cov, values, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = masked.sum(axis=0) / n_cov
            var = np.where(cov, (values - mean) ** 2, 0.0).sum(axis=0) / n_cov
        out[f"mean_{key}"] = (("pre", "post", "synapse"), np.where(n_cov > 0, mean, np.nan))
        out[f"std_{key}"] = (("pre", "post", "synapse"), np.where(n_cov > 0, np.sqrt(var),
                                                                  np.nan))
    out["n_covering"] = (("pre", "post", "synapse"), n_cov.astype(np.int16))
    out["n_reporting"] = (("pre", "post", "synapse"), edge.sum(axis=0).astype(np.int16))
    out["scale"] = (("annotation", "synapse"), scale)
    ds = xr.Dataset(out, coords={k: merged[k] for k in ("annotation", "pre", "post", "synapse")})
    ds["scale"].attrs["description"] = ("mean |weight| of the annotation's reported edges: "
                                        "the divisor of the normalized weights")
    return ds


def jaccard(merged: xr.Dataset, synapse: str | Sequence[str] | None = None, *,
            common: bool = True) -> xr.DataArray:
    """Jaccard index of the edge sets of every pair of annotations.

    Parameters
    ----------
    merged : xarray.Dataset
        The result of :func:`merge`.
    synapse : str or sequence of str, optional
        Synapse type(s) whose edges count; several are pooled (an ordered pair is an edge
        if any of them reports it). Default: all.
    common : bool
        Compare only the pairs both annotations cover (a brain-only reconstruction is not
        penalised for the tail it did not image); else all pairs.

    Returns
    -------
    xarray.DataArray
        ``(annotation, other)``; NaN where the two edge sets (on common pairs) are empty.
    """
    syn = list(merged["synapse"].values) if synapse is None else (
        [synapse] if isinstance(synapse, str) else list(synapse))
    bad = sorted(set(syn) - set(merged["synapse"].values.tolist()))
    if bad:
        raise InputError(f"jaccard: synapse {bad} not in {merged['synapse'].values.tolist()}")
    sub = merged.sel(synapse=syn)
    edge = sub["edge"].values.any(axis=-1).reshape(merged.sizes["annotation"], -1)
    cov = sub["covered"].values.any(axis=-1).reshape(merged.sizes["annotation"], -1)
    n = edge.shape[0]
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            keep = (cov[i] & cov[j]) if common else np.ones(edge.shape[1], bool)
            a, b = edge[i] & keep, edge[j] & keep
            union = np.count_nonzero(a | b)
            if union:
                out[i, j] = np.count_nonzero(a & b) / union
    names = merged["annotation"].values
    return xr.DataArray(out, dims=("annotation", "other"),
                        coords={"annotation": names, "other": names.copy()},
                        name="jaccard", attrs={"synapse": json.dumps(syn),
                                               "common_pairs_only": int(common)})


def run(cache_dir: str | Path, out: str | Path, *,
        annotations: Mapping[str, tuple[str, str]] | None = None,
        alpha: float = ALPHA) -> Path:
    """Merge annotations read from a reference cache and write ``out`` (zarr) atomically."""
    from ..store import write_dataset

    merged = merge(load_references(cache_dir, annotations), alpha=alpha)
    merged.attrs["inputs"] = dict(zip(
        merged["source"].values.tolist(), merged["source_sha256"].values.tolist(),
        strict=True))
    merged.attrs["versions"] = provenance.package_versions()
    return write_dataset(merged, out)
