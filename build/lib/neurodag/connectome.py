"""The connectome contract: a weighted directed graph between named cells, as xarray.

A connectome Dataset has

- ``weight`` with dims ``(pre, post, synapse)``, float64, finite, 0 = no edge;
  ``synapse`` takes values in :data:`SYNAPSES`; chemical and electrical weights are
  non-negative (counts, contacts, EM sections), functional ones may be negative;
- coordinates ``pre`` and ``post``: the same unique cell names in the same order;
- optional variables over ``(pre, post)`` (e.g. ``q_value`` and ``n_trials`` of a
  functional atlas; NaN there means "not measured") and ``class_weight``
  ``(pre, post, synapse_class)`` keeping a source's finer classes (neurotransmitters);
- attrs :data:`REQUIRED_ATTRS`: ``annotation`` (what this graph is), ``source``,
  ``source_sha256``, ``reference``, ``citation``, ``convention`` (always
  ``"[pre, post]"``: ``weight[i, j]`` is the connection from cell i to cell j), ``units``,
  and provenance (``neurodag_version``, ``config_digest``, ``created``).

Readers normalise every source to ``[pre, post]``: cect JSON (already ``[pre, post]``),
WormNeuroAtlas anatomical connectome (stored ``[post, pre]``) and signal propagation
atlas (``[i, j]`` = response of i to stimulation of j, i.e. ``[post, pre]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__, provenance
from .errors import ContractError, InputError, one_line

SYNAPSES = ("chemical", "electrical", "functional")
NON_NEGATIVE = ("chemical", "electrical")
CONVENTION = "[pre, post]"
REQUIRED_ATTRS = (
    "annotation", "source", "source_sha256", "reference", "citation", "convention", "units",
    "neurodag_version", "config_digest", "created",
)

#: cect synapse classes (``cect.Neurotransmitters``) and the synapse type each belongs to.
CECT_CLASSES = {
    "Generic_CS": "chemical", "ExcitatoryChem": "chemical", "InhibitoryChem": "chemical",
    "Acetylcholine": "chemical", "Acetylcholine_Tyramine": "chemical", "FMRFamide": "chemical",
    "GABA": "chemical", "Glutamate": "chemical", "Betaine": "chemical",
    "Serotonin_Acetylcholine": "chemical", "Serotonin_Glutamate": "chemical",
    "OtherChemicalNT": "chemical", "Generic_GJ": "electrical", "Functional": "functional",
}
#: Classes cect treats as extrasynaptic or contact: not synapses of this contract.
CECT_OTHER = ("Dopamine", "Serotonin", "Octopamine", "Tyramine", "Peptidergic", "Contact")
_GENERIC = ("Generic_CS", "Generic_GJ", "Functional")
_SUMMARY = re.compile(r"Connection type - (\S+): \((\d+), (\d+)\), (\d+) non-zero entries, "
                      r"sum of entries = (-?\d+)")


def build(
    weights: Mapping[str, np.ndarray],
    *,
    cells: Sequence[str],
    units: str,
    annotation: str,
    source: str = "memory",
    source_sha256: str = "",
    reference: str = "",
    citation: str = "",
    variables: Mapping[str, np.ndarray] | None = None,
    attrs: Mapping | None = None,
    where: str = "connectome",
) -> xr.Dataset:
    """Build a connectome Dataset from ``[pre, post]`` matrices, one per synapse type.

    Parameters
    ----------
    weights : mapping of str to array, shape (n_cells, n_cells)
        ``{synapse: matrix}`` with synapse in :data:`SYNAPSES`; ``matrix[i, j]`` is the
        weight from ``cells[i]`` to ``cells[j]``, 0 where there is no edge.
    cells : sequence of str
        Unique cell names, the order of both matrix axes.
    units : str
        Unit of the weights, e.g. "synapse count", "EM sections", "dF/F".
    annotation : str
        What this connectome is (dataset, stage, sex, strain).
    source, source_sha256 : str
        Where it came from (path or ``reference:NAME/member``) and that file's sha256.
    reference, citation : str
        Reference name (if from the registry) and the publication(s) to cite.
    variables : mapping of str to array, optional
        Extra ``(pre, post)`` arrays (e.g. ``q_value``, ``n_trials``).
    attrs : mapping, optional
        Extra attributes.
    where : str
        Name of the source, used as the prefix of error messages.

    Returns
    -------
    xarray.Dataset
        A Dataset that passes :func:`validate`.
    """
    names = np.asarray([str(c) for c in cells], dtype=object)
    n = names.size
    if not weights:
        raise ContractError(f"{where}: no weight matrices given")
    stack = []
    for syn, mat in weights.items():
        mat = np.asarray(mat, dtype=np.float64)
        if mat.shape != (n, n):
            raise ContractError(f"{where}: {syn} matrix has shape {mat.shape}, expected "
                                f"({n}, {n}) for {n} cells")
        stack.append(mat)
    ds = xr.Dataset(
        {"weight": (("pre", "post", "synapse"), np.stack(stack, axis=-1), {"units": units})},
        coords={"pre": ("pre", names), "post": ("post", names.copy()),
                "synapse": ("synapse", np.asarray(list(weights), dtype=object))},
    )
    for name, arr in (variables or {}).items():
        ds[name] = (("pre", "post"), np.asarray(arr))
    ds.attrs.update(
        annotation=str(annotation), source=str(source), source_sha256=str(source_sha256),
        reference=str(reference), citation=str(citation), convention=CONVENTION,
        units=str(units), neurodag_version=__version__, config_digest="",
        created=provenance.now(),
    )
    if attrs:
        ds.attrs.update(attrs)
    return validate(ds, where=where)


def validate(ds: xr.Dataset, *, where: str = "connectome") -> xr.Dataset:
    """Check that ``ds`` follows the connectome contract; return it.

    Raises
    ------
    ContractError
        One line naming ``where`` and the first problem: not square, pre and post names
        differ, unknown synapse type, non-finite weights, negative counts, missing attrs.
    """

    def fail(msg: str):
        raise ContractError(f"{where}: {msg}")

    if not isinstance(ds, xr.Dataset):
        fail(f"expected an xarray.Dataset, got {type(ds).__name__}")
    if "weight" not in ds.data_vars:
        fail("no 'weight' variable")
    w = ds["weight"]
    if w.dims != ("pre", "post", "synapse"):
        fail(f"weight has dims {w.dims}, expected ('pre', 'post', 'synapse')")
    if w.dtype != np.float64:
        fail(f"weight has dtype {w.dtype}, expected float64")
    if w.sizes["pre"] != w.sizes["post"]:
        fail(f"weight is not square ({w.sizes['pre']} pre x {w.sizes['post']} post cells)")
    if w.sizes["pre"] < 1 or w.sizes["synapse"] < 1:
        fail(f"weight is empty (shape {tuple(w.shape)})")
    for dim in ("pre", "post", "synapse"):
        if dim not in ds.coords:
            fail(f"no '{dim}' coordinate")
    pre = [str(v) for v in ds["pre"].values]
    if pre != [str(v) for v in ds["post"].values]:
        i = next(i for i, (a, b) in enumerate(zip(pre, ds["post"].values, strict=True)) if a != str(b))
        fail(f"pre and post cells differ (position {i}: {pre[i]!r} vs "
             f"{str(ds['post'].values[i])!r}); both axes must list the same cells in order")
    if not all(pre):
        fail("cell names must be non-empty strings")
    uniq, counts = np.unique(np.asarray(pre, dtype=object), return_counts=True)
    if (counts > 1).any():
        fail(f"duplicate cell names {uniq[counts > 1][:5].tolist()}")
    synapses = [str(s) for s in ds["synapse"].values]
    bad = sorted(set(synapses) - set(SYNAPSES))
    if bad:
        fail(f"synapse {bad} not in {list(SYNAPSES)}")
    if len(set(synapses)) != len(synapses):
        fail(f"duplicate synapse types {synapses}")
    values = np.asarray(w.values)
    if not np.isfinite(values).all():
        fail("weight has NaN or Inf values (use 0 for no edge)")
    for k, syn in enumerate(synapses):
        if syn in NON_NEGATIVE and (values[..., k] < 0).any():
            i, j = np.argwhere(values[..., k] < 0)[0]
            fail(f"{syn} weight {pre[i]}->{pre[j]} is negative ({values[i, j, k]:g})")
    for name, var in ds.data_vars.items():
        if name != "weight" and var.dims[:2] != ("pre", "post"):
            fail(f"variable '{name}' has dims {var.dims}, expected ('pre', 'post', ...)")
    missing = [a for a in REQUIRED_ATTRS if a not in ds.attrs]
    if missing:
        fail(f"missing attribute(s) {missing}")
    if ds.attrs["convention"] != CONVENTION:
        fail(f"convention {ds.attrs['convention']!r}, expected {CONVENTION!r}")
    return ds


# -- cect JSON --------------------------------------------------------------------------


def cect_summary_totals(summary: str) -> dict[str, tuple[int, int]]:
    """``{class: (non-zero entries, int(sum))}`` as stated in a cect ``summary`` text."""
    return {m[0]: (int(m[3]), int(m[4])) for m in _SUMMARY.findall(summary)}


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({one_line(e)})") from None
    if not isinstance(data, dict) or not {"nodes", "connections"} <= set(data):
        raise InputError(f"{path}: expected a cect connectome (JSON object with 'nodes' and "
                         "'connections')")
    return data


def _cect_matrices(data: dict, path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    nodes = data["nodes"]
    if not isinstance(nodes, list) or not nodes or not all(isinstance(c, str) for c in nodes):
        raise InputError(f"{path}: 'nodes' must be a non-empty list of cell names")
    if len(set(nodes)) != len(nodes):
        dup = sorted({c for c in nodes if nodes.count(c) > 1})
        raise InputError(f"{path}: duplicate cell names {dup[:5]}")
    conns = data["connections"]
    if not isinstance(conns, dict) or not conns:
        raise InputError(f"{path}: 'connections' must map synapse classes to matrices")
    n = len(nodes)
    mats = {}
    for cls, rows in conns.items():
        try:
            mat = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{path}: connections[{cls!r}] is not a numeric matrix") from None
        if mat.shape != (n, n):
            raise InputError(f"{path}: connections[{cls!r}] has shape {mat.shape}, expected "
                             f"({n}, {n}) for {n} nodes")
        if not np.isfinite(mat).all():
            raise InputError(f"{path}: connections[{cls!r}] has NaN or Inf values")
        mats[cls] = mat
    return nodes, mats


def _synapse_type(cls: str, path: Path) -> str:
    if cls in CECT_CLASSES:
        return CECT_CLASSES[cls]
    if cls.startswith("OtherChemicalNT"):
        return "chemical"
    if cls in CECT_OTHER:
        raise InputError(f"{path}: synapse class {cls!r} is extrasynaptic or contact, not one of "
                         f"{list(SYNAPSES)}")
    raise InputError(f"{path}: unknown synapse class {cls!r}")


def _check_summary(data: dict, mats: dict[str, np.ndarray], path: Path) -> None:
    """The matrices must agree with the totals cect's own summary states."""
    summary = data.get("summary")
    if not isinstance(summary, str):
        return
    for cls, (nonzero, total) in cect_summary_totals(summary).items():
        if cls not in mats:
            raise InputError(f"{path}: summary lists class {cls!r} that 'connections' lacks")
        mat = mats[cls]
        if np.count_nonzero(mat) != nonzero or abs(mat.sum() - total) >= 1:
            raise InputError(f"{path}: {cls} has {np.count_nonzero(mat)} edges summing to "
                             f"{mat.sum():g}; the file's summary states {nonzero} and {total}")


def read_cect(path: str | Path, *, units: str = "synapse count", annotation: str | None = None,
              citation: str = "", reference: str = "") -> xr.Dataset:
    """Read one cect cached connectome (``cect/cache/*.json``) into the contract.

    Parameters
    ----------
    path : path-like
        A JSON file ``{"nodes": [...], "connections": {class: matrix [pre, post]},
        "summary": text}``.
    units : str
        Unit of the weights (cect's readers say what each dataset counts).
    annotation, citation, reference : str, optional
        Description (default: the file name), publication, registry name.

    Returns
    -------
    xarray.Dataset
        One connectome; classes of one synapse type are summed into ``weight`` and, when
        the file has finer classes than cect's generic ones, kept in ``class_weight``.

    Raises
    ------
    InputError
        Unreadable JSON, malformed matrices, extrasynaptic or unknown classes, or
        matrices that disagree with the totals the file's own summary states.
    """
    path = Path(path)
    data = _load_json(path)
    nodes, mats = _cect_matrices(data, path)
    _check_summary(data, mats, path)
    types = {cls: _synapse_type(cls, path) for cls in mats}
    weights = {}
    for syn in SYNAPSES:
        members = [mats[c] for c, t in types.items() if t == syn]
        if members:
            weights[syn] = np.sum(members, axis=0)
    ds = build(weights, cells=nodes, units=units, annotation=annotation or path.stem,
               reference=reference, citation=citation, where=str(path),
               attrs={"synapse_classes": json.dumps(types)})
    provenance.stamp(ds, [path], source=str(path))
    if set(mats) - set(_GENERIC):
        ds["class_weight"] = xr.DataArray(
            np.stack(list(mats.values()), axis=-1), dims=("pre", "post", "synapse_class"),
            coords={"synapse_class": np.asarray(list(mats), dtype=object),
                    "synapse_class_type": ("synapse_class",
                                           np.asarray(list(types.values()), dtype=object))},
            attrs={"units": units})
    return ds


# -- WormNeuroAtlas HDF5 ---------------------------------------------------------------

#: funatlas.h5 stores ids as 5-byte strings: the one longer name is cut.
_TRUNCATED = {"AWCOF": "AWCOFF"}


def _open_h5(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path}: not a readable HDF5 file ({one_line(e)})") \
            from None


def _dataset(h5, key: str, path: Path, shape: tuple | None = None) -> np.ndarray:
    if key not in h5:
        raise InputError(f"{path}: no dataset '{key}'")
    arr = np.asarray(h5[key][()])
    if shape is not None and arr.shape != shape:
        raise InputError(f"{path}: '{key}' has shape {arr.shape}, expected {shape}")
    return arr


def _atlas_ids(path: Path) -> list[str]:
    """Cell names of the anatomical connectome: sorted unique ids, as NeuroAtlas orders them."""
    try:
        lines = path.read_text().split("\n")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    rows = [ln.split() for ln in lines if ln.strip()]
    if not rows or any(len(r) != 2 for r in rows):
        raise InputError(f"{path}: expected lines '<index> <neuron id>'")
    return sorted({r[1] for r in rows})


def read_wormneuroatlas(path: str | Path, kind: str = "anatomical", *, strain: str = "wt",
                        neuron_ids: str | Path | None = None, annotation: str | None = None,
                        citation: str = "", reference: str = "") -> xr.Dataset:
    """Read WormNeuroAtlas's anatomical connectome or signal propagation atlas, as [pre, post].

    Parameters
    ----------
    path : path-like
        ``aconnectome_default.h5`` (kind "anatomical": ``chem`` and ``gap`` indexed
        ``[post, pre]``) or ``funatlas.h5`` (kind "functional": per strain ``dFF``, ``q``,
        ``q_eq``, ``occ1`` with ``[i, j]`` = response of i to stimulation of j).
    kind : {"anatomical", "functional"}
    strain : {"wt", "unc31"}
        Functional atlas only: wild type or unc-31 mutant.
    neuron_ids : path-like, optional
        Anatomical only: ``neuron_ids.txt`` (default: next to ``path``); the matrix order
        is its ids sorted, as ``wormneuroatlas.NeuroAtlas`` orders them.
    annotation, citation, reference : str, optional

    Returns
    -------
    xarray.Dataset
        Anatomical: ``weight`` chemical and electrical (synapse counts). Functional:
        ``weight`` functional (mean dF/F; 0 where not measured) and ``q_value``,
        ``q_value_eq`` (NaN where not measured) and ``n_trials``.
    """
    path = Path(path)
    if kind not in ("anatomical", "functional"):
        raise InputError(f"{path}: kind {kind!r} is not 'anatomical' or 'functional'")
    common = dict(reference=reference, citation=citation, where=str(path))
    if kind == "anatomical":
        ids_path = Path(neuron_ids) if neuron_ids is not None else path.with_name(
            "neuron_ids.txt")
        cells = _atlas_ids(ids_path)
        n = len(cells)
        with _open_h5(path) as h5:
            chem = _dataset(h5, "chem", path, (n, n))
            gap = _dataset(h5, "gap", path, (n, n))
        ds = build({"chemical": chem.T, "electrical": gap.T}, cells=cells,
                   units="synapse count", **common,
                   annotation=annotation or "WormNeuroAtlas anatomical connectome",
                   attrs={"stored_as": "[post, pre]"})
        return provenance.stamp(ds, [path, ids_path], source=str(path))
    with _open_h5(path) as h5:
        if strain not in h5 or "neuron_ids" not in h5:
            raise InputError(f"{path}: no group {strain!r} or no 'neuron_ids' (strains: "
                             f"{sorted(k for k in h5 if k != 'neuron_ids')})")
        raw = _dataset(h5, "neuron_ids", path)
        cells = [_TRUNCATED.get(c, c) for c in (v.decode() if isinstance(v, bytes) else str(v)
                                                 for v in raw)]
        n = len(cells)
        dff = _dataset(h5, f"{strain}/dFF", path, (n, n)).astype(np.float64)
        q = _dataset(h5, f"{strain}/q", path, (n, n)).astype(np.float64)
        q_eq = _dataset(h5, f"{strain}/q_eq", path, (n, n)).astype(np.float64)
        occ = _dataset(h5, f"{strain}/occ1", path, (n, n)).astype(np.int64)
    if np.isinf(dff).any():
        raise InputError(f"{path}: {strain}/dFF has infinite values")
    ds = build(
        {"functional": np.where(np.isnan(dff.T), 0.0, dff.T)}, cells=cells, units="dF/F",
        annotation=annotation or f"Randi et al. 2023 signal propagation atlas ({strain})",
        variables={"q_value": q.T, "q_value_eq": q_eq.T, "n_trials": occ.T}, **common,
        attrs={"strain": strain, "stored_as": "[post, pre] (response of i to stimulation of j)",
               "not_measured": "weight 0 and q_value NaN"},
    )
    ds["q_value"].attrs["description"] = "q value (false discovery rate) of the response"
    ds["q_value_eq"].attrs["description"] = ("q value of the equivalence test: small values "
                                             "support the absence of a response")
    ds["n_trials"].attrs["description"] = "number of stimulation trials with the pair observed"
    return provenance.stamp(ds, [path], source=str(path))


# -- storage ----------------------------------------------------------------------------


def write(ds: xr.Dataset, path: str | Path) -> Path:
    """Validate a connectome and write it to zarr atomically."""
    from .store import write_dataset

    validate(ds, where=str(path))
    return write_dataset(ds, path)


def read(path: str | Path) -> xr.Dataset:
    """Read a connectome zarr store (loaded into memory) and validate it."""
    from .store import read_dataset

    ds = read_dataset(path).load()
    return validate(ds, where=str(path))
