"""Reference datasets: real recordings and connectomes shipped inside pinned PyPI wheels.

>>> from neurodag import reference
>>> root = reference.fetch("spkit", "cache/")          # pip download, sha256, extract
>>> reference.sessions("spkit")                         # {"eeg16s": {...}, "artifact": {...}}
>>> ds = reference.read("spkit", "eeg16s", "cache/")    # a signal-contract Dataset
>>> g = reference.read("cect", "witvliet2021_8", "cache/")  # a connectome Dataset

:data:`REFERENCES` maps each name to its :class:`Reference` (wheel, sha256, licence,
origin, citation, sessions). :func:`fetch` is the only function that uses the network
(``pip download --no-deps NAME==VERSION``) and only when the cache is not complete;
:func:`read` reads from the cache alone, after checking each member against the
manifest. Provenance: ``source`` is ``reference:NAME/MEMBER`` and ``source_sha256`` that
member's sha256.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import provenance
from ..errors import ConfigError, InputError, one_line
from .cache import MANIFEST, fetch, get, is_complete, pip_download, read_manifest
from .registry import READERS, REFERENCES, Reference, Session

__all__ = [
    "REFERENCES", "Reference", "Session", "fetch", "sessions", "read", "ingest_session",
    "is_complete", "pip_download", "get", "MANIFEST", "accepts",
]


#: Options each of our own readers takes (``io`` sessions take :data:`neurodag.io.OPTIONS`).
_OPTIONS = {"spkit": {"key"}, "cect": set(), "wormneuroatlas": {"kind", "strain"}}


def accepts(name: str, option: str) -> bool:
    """Whether every session reader of reference ``name`` takes ingest ``option`` (readers
    of the generic ``neurodag.io`` kind take the options the config schema allows)."""
    return all(option in _OPTIONS.get(s.reader, {option})
               for s in REFERENCES[name].sessions.values())


def sessions(name: str | Reference) -> dict[str, dict]:
    """The sessions of a reference, for planning ingest jobs from the cache.

    Returns
    -------
    dict
        ``{session_id: {"files": [...], "confounds": path or None, "surfaces": {...},
        "options": {...}, "modality": str, "reader": str, "subject": str,
        "description": str}}``; paths are relative to the cache dir, ``NAME/MEMBER``
        (the cache mirrors the wheel's paths under ``cache_dir/NAME``).
    """
    ref = get(name)
    return {
        sid: {
            "files": [f"{ref.name}/{m}" for m in s.files],
            "confounds": f"{ref.name}/{s.confounds}" if s.confounds else None,
            "surfaces": {h: f"{ref.name}/{m}" for h, m in s.surfaces.items()},
            "options": dict(s.options),
            "modality": s.modality,
            "reader": s.reader,
            "subject": s.subject,
            "description": s.description,
        }
        for sid, s in ref.sessions.items()
    }


def _session(ref: Reference, session: str) -> Session:
    try:
        return ref.sessions[session]
    except KeyError:
        raise InputError(f"reference {ref.name}: no session {session!r}; expected one of "
                         f"{sorted(ref.sessions)}") from None


def _cached_members(ref: Reference, cache_dir: Path) -> dict:
    if not is_complete(ref, cache_dir):
        raise InputError(f"{cache_dir / ref.name}: reference {ref.name} is missing or "
                         f"incomplete; fetch it first (neurodag.reference.fetch({ref.name!r}, "
                         f"{str(cache_dir)!r}))")
    return read_manifest(cache_dir / ref.name)["members"]


def _read_io(paths: list[Path], sess: Session, subject: str, session: str, options: dict):
    from .. import io

    return io.read(paths, modality=sess.modality, subject=subject, session=session, **options)


def read_confounds(path: Path, n_volumes: int, names: tuple[str, ...] = ()) -> pd.DataFrame:
    """A whitespace-separated confound table without header: one row per volume.

    Columns are named ``names`` when given (one per column), else ``confound00``, ...
    """
    try:
        values = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a numeric confound table ({one_line(e)})"
                         ) from None
    if values.shape[0] != n_volumes:
        raise InputError(f"{path}: {values.shape[0]} confound rows for {n_volumes} volumes")
    if not np.isfinite(values).all():
        raise InputError(f"{path}: NaN or Inf confound values")
    if names:
        if len(names) != values.shape[1]:
            raise InputError(f"{path}: {values.shape[1]} confound columns, the registry names "
                             f"{len(names)}")
        return pd.DataFrame(values, columns=list(names))
    width = len(str(values.shape[1] - 1))
    return pd.DataFrame(values, columns=[f"confound{i:0{width}d}"
                                         for i in range(values.shape[1])])


_VERTEX = re.compile(r"^(lh|rh)-(\d+)$")


def surface_positions(ds: xr.Dataset, surfaces: dict[str, Path]) -> xr.Dataset:
    """``ds`` with x, y, z (m) of channels ``lh-{vertex}``/``rh-{vertex}`` from GIFTI meshes."""
    import nibabel as nib

    coords = {}
    for hemi, path in surfaces.items():
        try:
            mesh = nib.load(path)
            coords[hemi] = np.asarray(mesh.agg_data("NIFTI_INTENT_POINTSET"), dtype=np.float64)
        except Exception as e:  # nibabel raises several types for broken files
            raise InputError(f"{path}: not a readable GIFTI surface mesh ({type(e).__name__})") \
                from None
    pos = np.full((ds.sizes["channel"], 3), np.nan)
    for i, name in enumerate(ds["channel"].values):
        match = _VERTEX.match(str(name))
        if match is None or match[1] not in coords or int(match[2]) >= len(coords[match[1]]):
            raise InputError(f"channel {name!r} is not a vertex of the surfaces "
                             f"{sorted(coords)} ({len(coords.get('lh', []))} vertices each)")
        pos[i] = coords[match[1]][int(match[2])]
    pos *= 1e-3  # GIFTI meshes are in mm
    return ds.assign_coords({axis: ("channel", pos[:, k], {"units": "m"})
                             for k, axis in enumerate("xyz")})


def read(name: str | Reference, session: str, cache_dir: str | Path, **options) -> xr.Dataset:
    """Read one session of a fetched reference.

    Parameters
    ----------
    name : str or Reference
        A key of :data:`REFERENCES`.
    session : str
        A key of :func:`sessions`.
    cache_dir : path-like
        The cache root :func:`fetch` filled; nothing is downloaded here.
    **options
        Override or extend the session's registered reader options (e.g. ``tr``).

    Returns
    -------
    xarray.Dataset
        A signal-contract Dataset for recordings (modality eeg/fmri), a connectome
        Dataset (:mod:`neurodag.connectome`) for connectomes. Attrs add ``reference``,
        ``reference_version``, ``licence``, ``citation``, ``inputs`` (``{source: sha256}``
        of every member read).

    Raises
    ------
    InputError
        Unknown reference or session, a cache that is missing or does not match its
        manifest, or a problem in the data files.
    """
    from .. import connectome, schema

    ref = get(name)
    sess = _session(ref, session)
    cache_dir = Path(cache_dir)
    members = _cached_members(ref, cache_dir)
    paths = [cache_dir / ref.name / m for m in sess.files]
    opts = {**sess.options, **options}
    if sess.reader in _OPTIONS:
        bad = sorted(set(opts) - _OPTIONS[sess.reader])
        if bad:
            raise ConfigError(f"reference {ref.name}/{session}: reader option(s) {bad} unknown; "
                              f"expected {sorted(_OPTIONS[sess.reader]) or 'none'}")
    citation = sess.citation or ref.citation
    if sess.reader == "spkit":
        from .eeg import read_spkit

        ds = read_spkit(paths[0], **opts)
    elif sess.reader == "cect":
        ds = connectome.read_cect(paths[0], units=sess.units, annotation=sess.description,
                                  citation=citation, reference=ref.name)
    elif sess.reader == "wormneuroatlas":
        kind = opts.pop("kind", "anatomical")
        extra = {"neuron_ids": paths[1]} if kind == "anatomical" else {}
        ds = connectome.read_wormneuroatlas(
            paths[0], kind, annotation=sess.description, citation=citation,
            reference=ref.name, **extra, **opts)
    elif sess.reader == "io":
        ds = _read_io(paths, sess, sess.subject, session, opts)
        if sess.confounds:
            conf = read_confounds(cache_dir / ref.name / sess.confounds, ds.sizes["time"],
                                  sess.confound_names)
            ds = schema.set_confounds(ds, conf)
        if sess.surfaces:
            ds = surface_positions(ds, {h: cache_dir / ref.name / m
                                        for h, m in sess.surfaces.items()})
    else:  # pragma: no cover - the registry is checked by tests
        raise InputError(f"reference {ref.name}: reader {sess.reader!r} not in {READERS}")
    used = [*sess.files, *([sess.confounds] if sess.confounds else [])]
    sources = [f"reference:{ref.name}/{m}" for m in used]
    ds.attrs.pop("source_files", None)
    ds.attrs.update(
        source=sources[0], source_sha256=members[sess.files[0]]["sha256"],
        inputs={s: members[m]["sha256"] for s, m in zip(sources, used, strict=True)},
        reference=ref.name, reference_version=f"{ref.package}=={ref.version}",
        licence=ref.licence, citation=citation, versions=provenance.package_versions(),
    )
    if sess.modality == "connectome":
        return connectome.validate(ds, where=f"reference {ref.name}/{session}")
    ds.attrs.update(subject=sess.subject, session=session)
    return schema.validate(ds, where=f"reference {ref.name}/{session}", check_values=False)


def ingest_session(name: str | Reference, session: str, cache_dir: str | Path,
                   out_dir: str | Path, *, config_digest: str = "",
                   nwb_compression: str | None = None, metadata: dict | None = None,
                   **options) -> dict[str, Path]:
    """Read a reference session from the cache and write it where the DAG expects it.

    Recordings give ``out_dir/raw.zarr``, ``out_dir/raw.nwb`` and ``dandi.json`` (the
    NWB written from the zarr store and checked with nwbinspector; all appear or none, as
    in :func:`neurodag.ingest.run`), with the config's ``metadata`` of this session laid
    over the Dataset's; connectomes give ``out_dir/connectome.zarr``.

    Returns
    -------
    dict
        ``{"zarr": path, "nwb": path, "dandi": path}`` or ``{"connectome": path}``.
    """
    from .. import connectome, ingest

    ref = get(name)
    ds = read(ref, session, cache_dir, **options)
    ds.attrs["config_digest"] = config_digest
    out_dir = Path(out_dir)
    if _session(ref, session).modality == "connectome":
        return {"connectome": connectome.write(ds, out_dir / "connectome.zarr")}
    return ingest.write(ds, out_dir, nwb_compression=nwb_compression, metadata=metadata)
