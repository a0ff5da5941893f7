"""Electrophysiology and fMRI sessions on one channel (or region) set and one rate.

:func:`stack` turns sessions of one modality with different channel names, channel sets
and rates into one Dataset with dims ``(session, time, channel)``, or
``(session, time, region)`` with ``by="region"``:

1. **names.** EEG names are normalised to 10-05 names
   (:func:`~neurodag.homogenize.names.normalize_eeg_names`: ``"EEG Fp1-REF"`` and
   ``"FP1"`` are both ``Fp1``, T3 is T7); channels without a 10-05 name are left out and
   listed in ``dropped``. Other modalities keep their names. Only the modality's data
   channels are used (EEG: ``eeg``; MEG: ``mag``, ``grad``; ...).
   With ``by="region"`` each session is first reduced to region signals
   (:func:`~neurodag.homogenize.regions.to_regions`, after
   :func:`~neurodag.homogenize.regions.assign_regions` when an ``atlas`` is given), so
   that sEEG sessions with different electrodes, or fMRI sessions with different
   parcellations, share regions.
2. **channel set.** ``"intersection"`` (default): the channels every session has.
   ``"union"``: every channel any session has. Or an explicit list (a template). A
   session's missing channels are 0 with ``mask`` False, or, with ``interpolate=True``
   (EEG only), interpolated by spherical splines (:meth:`mne.io.Raw.interpolate_bads`,
   ``origin="auto"``) from the session's own channels at the template positions of MNE's
   10-05 montage (``colin27_1005``; digitised positions are not used, so that every
   session interpolates in the same head); ``interpolated`` marks them and ``mask`` is
   True. EEG channels are ordered as in the 10-05 montage, others as first seen.
3. **rate.** Every session is resampled to ``sfreq`` (default: the lowest rate among
   the sessions, so nothing is upsampled) by polyphase filtering
   (:func:`~neurodag.homogenize.resample.rational_resample`).
4. **length.** Sessions keep their own lengths: the time axis (``k / sfreq`` from each
   session's first sample) is as long as the longest, ``valid`` (session, time) marks
   each session's span, and ``signal`` is 0 outside it (NaN-free).

The result keeps the input units (all sessions must share them). References are not
changed: re-reference in preprocessing (e.g. average reference) before stacking sessions
recorded against different references. ``signal`` is built lazily (one dask task per
session), so writing it with :func:`neurodag.store.write_dataset` holds about one
session in memory at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import dask
import dask.array as da
import numpy as np
import xarray as xr

from .. import __version__, provenance, schema
from ..errors import InputError
from . import regions as _regions
from .names import eeg_1005_names, normalize_eeg_names
from .resample import rational_resample, resample_ratio, resampled_length

BY = ("channel", "region")
SETS = ("intersection", "union")


@dataclass
class _Plan:
    name: str
    ds: xr.Dataset
    names: list[str]                     # common-set names of the kept channels
    index: list[int]                     # their positions in ds's channel axis
    labels: list[str]                    # their original names
    sfreq: float
    dropped: list[str] = field(default_factory=list)
    ratio: Fraction = Fraction(1)
    n_out: int = 0


def _sessions(sessions) -> list[tuple[str, xr.Dataset]]:
    if isinstance(sessions, xr.Dataset):
        raise InputError("stack: expected several sessions (a sequence or mapping), got one "
                         "Dataset")
    if isinstance(sessions, Mapping):
        items = [(str(k), v) for k, v in sessions.items()]
    else:
        items = [(f"sub-{d.attrs.get('subject', '')}_ses-{d.attrs.get('session', '')}", d)
                 for d in sessions]
    if not items:
        raise InputError("stack: no sessions given")
    names = [n for n, _ in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"stack: session names {dup[:3]} occur twice; pass a mapping "
                         "{session id: Dataset}")
    for name, ds in items:
        if not isinstance(ds, xr.Dataset):
            raise InputError(f"stack: session {name}: expected an xarray Dataset, got "
                             f"{type(ds).__name__}")
    return items


def _plan(name: str, ds: xr.Dataset, modality: str, by: str, atlas, atlas_labels) -> _Plan:
    schema.validate(ds, where=name, check_values=False)
    if ds.attrs["modality"] != modality:
        raise InputError(f"{name}: modality {ds.attrs['modality']!r}, but the first session is "
                         f"{modality!r}; stack one modality at a time")
    if by == "region":
        if atlas is not None:
            ds = _regions.assign_regions(ds, atlas, labels=atlas_labels)
        ds = _regions.to_regions(ds, where=name)
    types = schema.DATA_CHANNEL_TYPES.get(modality, ())
    keep = np.flatnonzero(np.isin(ds["channel_type"].values.astype(str), types))
    if keep.size == 0:
        raise InputError(f"{name}: no channel of type {list(types)}")
    labels = [str(c) for c in ds["channel"].values[keep]]
    if modality == "eeg" and by == "channel":
        mapped = normalize_eeg_names(labels)
    else:
        mapped = labels
    plan = _Plan(name=name, ds=ds, names=[], index=[], labels=[], sfreq=float(ds.attrs["sfreq"]))
    for i, label, new in zip(keep, labels, mapped, strict=True):
        if new is None:
            plan.dropped.append(label)
        else:
            plan.names.append(new)
            plan.index.append(int(i))
            plan.labels.append(label)
    if not plan.names:
        raise InputError(f"{name}: no channel has a 10-05 name (channels {labels[:5]})")
    return plan


def _order(names, modality: str, by: str) -> list[str]:
    if modality == "eeg" and by == "channel":
        rank = {n: i for i, n in enumerate(eeg_1005_names())}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))
    return list(names)


def _common(plans: list[_Plan], channels, modality: str, by: str) -> list[str]:
    if isinstance(channels, str):
        if channels not in SETS:
            raise InputError(f"stack: channels must be one of {list(SETS)} or a list of names, "
                             f"got {channels!r}")
        seen: dict[str, None] = {}
        for p in plans:
            seen.update(dict.fromkeys(p.names))
        names = list(seen)
        if channels == "intersection":
            names = [n for n in names if all(n in p.names for p in plans)]
            if not names:
                raise InputError("stack: the sessions share no channel; use channels='union' "
                                 "or a template list")
        return _order(names, modality, by)
    names = [str(c) for c in channels]
    if modality == "eeg" and by == "channel":
        mapped = normalize_eeg_names(names)
        bad = [c for c, m in zip(names, mapped, strict=True) if m is None]
        if bad:
            raise InputError(f"stack: template channels {bad[:5]} are not 10-05 names")
        names = [m for m in mapped if m is not None]
    if not names or len(set(names)) != len(names):
        raise InputError("stack: the template must list unique channel names")
    return names


def _process(plan: _Plan, common: list[str], n_time: int, interpolate: bool,
             target: float) -> np.ndarray:
    """One session's (n_time, n_common) block: selected, resampled, placed, interpolated."""
    pos = {n: k for k, n in enumerate(common)}
    pairs = [(i, pos[n]) for i, n in zip(plan.index, plan.names, strict=True) if n in pos]
    block = np.zeros((plan.n_out, len(common)))
    if pairs:
        x = np.asarray(plan.ds["signal"].isel(channel=[i for i, _ in pairs]).values,
                       np.float64)
        if not np.isfinite(x).all():
            raise InputError(f"{plan.name}: signal has NaN or Inf samples")
        block[:, [c for _, c in pairs]] = rational_resample(x, plan.sfreq, target)[0]
    missing = [n for n in common if n not in set(plan.names)]
    if interpolate and missing:
        block = _interpolate(block, common, missing, target, plan.name)
    out = np.zeros((n_time, len(common)), np.float32)
    out[:block.shape[0]] = block
    return out


def _interpolate(block: np.ndarray, names: list[str], bads: list[str], sfreq: float,
                 where: str) -> np.ndarray:
    import mne

    info = mne.create_info(names, sfreq, "eeg")
    raw = mne.io.RawArray(block.T, info, verbose="error")
    raw.set_montage(mne.channels.make_standard_montage("colin27_1005"), verbose="error")
    raw.info["bads"] = list(bads)
    if len(names) - len(bads) < 4:
        raise InputError(f"{where}: {len(names) - len(bads)} channels are too few to "
                         f"interpolate {len(bads)} missing ones")
    raw.interpolate_bads(reset_bads=True, origin="auto", verbose="error")
    return raw.get_data().T


def stack(sessions: Sequence[xr.Dataset] | Mapping[str, xr.Dataset], *, by: str = "channel",
          channels: str | Sequence[str] = "intersection", sfreq: float | None = None,
          interpolate: bool = False, atlas=None, atlas_labels: Mapping | None = None
          ) -> xr.Dataset:
    """Stack sessions of one modality on common channels (or regions) and one rate.

    Parameters
    ----------
    sessions : sequence or mapping of contract Datasets
        A mapping names the sessions; a sequence uses ``sub-{subject}_ses-{session}``.
    by : {"channel", "region"}
        Stack channels, or region signals (mean over each region's channels).
    channels : {"intersection", "union"} or sequence of str
        The common set (see :mod:`neurodag.homogenize.channels`).
    sfreq : float, optional
        Common rate in Hz; default the lowest session rate.
    interpolate : bool
        EEG only: interpolate channels a session lacks instead of masking them.
    atlas, atlas_labels : optional
        With ``by="region"``: assign regions from positions first
        (:func:`~neurodag.homogenize.regions.assign_regions`); without an atlas the
        sessions' own ``region`` coordinates are used.

    Returns
    -------
    xarray.Dataset
        ``signal`` (session, time, ``by``) float32 in the input units (lazy), ``mask``
        and ``interpolated`` (session, ``by``), ``valid`` (session, time), ``label``
        (session, ``by``: the session's own name of the channel), session coords
        ``subject``, ``session_id``, ``source``, ``sfreq_original``,
        ``n_samples_original``, ``n_samples``, ``duration``; attrs ``modality``,
        ``sfreq``, ``units``, ``dropped`` (JSON: channels left out per session).
    """
    if by not in BY:
        raise InputError(f"stack: by must be one of {list(BY)}, got {by!r}")
    items = _sessions(sessions)
    modality = str(items[0][1].attrs.get("modality", ""))
    if interpolate and not (modality == "eeg" and by == "channel"):
        raise InputError("stack: interpolate=True needs EEG channels with 10-05 names "
                         "(modality eeg, by='channel')")
    plans = [_plan(n, d, modality, by, atlas, atlas_labels) for n, d in items]
    common = _common(plans, channels, modality, by)
    target = float(sfreq) if sfreq is not None else min(p.sfreq for p in plans)
    for p in plans:
        p.ratio = resample_ratio(p.sfreq, target)
        p.n_out = resampled_length(p.ds.sizes["time"], p.ratio)
    units = sorted({str(u) for p in plans for u, n in zip(
        p.ds["unit"].values[p.index], p.names, strict=True) if n in common})
    if len(units) > 1:
        raise InputError(f"stack: sessions have different units {units}")
    n_time = max(p.n_out for p in plans)
    blocks = [da.from_delayed(dask.delayed(_process)(p, common, n_time, interpolate, target),
                              shape=(n_time, len(common)), dtype=np.float32) for p in plans]
    has = np.array([[n in set(p.names) for n in common] for p in plans])
    interp = ~has if interpolate else np.zeros_like(has)
    label = np.array([[dict(zip(p.names, p.labels, strict=True)).get(n, "") for n in common]
                      for p in plans], dtype=object)
    valid = np.arange(n_time)[None, :] < np.array([p.n_out for p in plans])[:, None]
    ctype = {}
    for p in plans:
        for i, n in zip(p.index, p.names, strict=True):
            ctype.setdefault(n, str(p.ds["channel_type"].values[i]))
    dim = by
    session_coords = {
        "subject": [str(p.ds.attrs.get("subject", "")) for p in plans],
        "session_id": [str(p.ds.attrs.get("session", "")) for p in plans],
        "source": [str(p.ds.attrs.get("source", "")) for p in plans],
        "sfreq_original": [p.sfreq for p in plans],
        "n_samples_original": [int(p.ds.sizes["time"]) for p in plans],
        "n_samples": [int(p.n_out) for p in plans],
        "duration": [float(p.ds["time"].values[-1] - p.ds["time"].values[0]) for p in plans],
    }
    out = xr.Dataset(
        {
            "signal": (("session", "time", dim), da.stack(blocks),
                       {"units": units[0] if units else "a.u."}),
            "mask": (("session", dim), has | interp),
            "interpolated": (("session", dim), interp),
            "valid": (("session", "time"), valid),
            "label": (("session", dim), label),
        },
        coords={
            "session": ("session", np.asarray([p.name for p in plans], dtype=object)),
            "time": ("time", np.arange(n_time) / target, {"units": "s"}),
            dim: (dim, np.asarray(common, dtype=object)),
            "channel_type": (dim, np.asarray([ctype.get(n, "eeg") for n in common], dtype=object)),
            **{k: ("session", np.asarray(v, dtype=object) if isinstance(v[0], str)
                   else np.asarray(v)) for k, v in session_coords.items()},
        },
    )
    out.attrs.update(
        modality=modality, sfreq=target, by=by,
        channels=channels if isinstance(channels, str) else json.dumps(common),
        interpolation=("spherical spline (mne interpolate_bads, colin27_1005 positions)"
                       if interpolate else "none"),
        resampling="scipy.signal.resample_poly (polyphase, Kaiser window)",
        dropped=json.dumps({p.name: p.dropped for p in plans if p.dropped}),
        fill="signal is 0 wherever mask (session, channel) or valid (session, time) is False",
        neurodag_version=__version__, config_digest="", created=provenance.now(),
    )
    return out
