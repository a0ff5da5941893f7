"""C. elegans activity on one grid: canonical neurons, a common step, z-scored, stacked.

Per recording (a calcium-imaging contract Dataset, channel types ``neuron``/``roi``):

1. recordings with fewer than ``min_samples`` samples (600 by default) are dropped; the
   stack's ``dropped`` attribute lists each one with the reason;
2. labels are mapped to the 300 canonical neurons (:func:`~neurodag.homogenize.names.
   map_neurons`; ``awc_on`` from the recording's attrs or the caller); everything else
   (unlabelled ROIs, unknown or duplicate labels, AWCON/AWCOFF of unknown side) goes to
   extra slots ``extra-001``, ``extra-002``, ... in the order of the recording's channels;
3. optional smoothing on the recording's own grid (:func:`~neurodag.homogenize.resample.
   smooth`);
4. resampling to ``t = k * dt`` from the recording's first sample
   (:func:`~neurodag.homogenize.resample.to_step`: spline interpolation up, exact block
   averaging down);
5. z-scoring per neuron over the recording (mean 0, sd 1, ddof 0). A flat trace has no
   z-score: it is set to 0 and its ``mask`` entry to False (listed in ``flat``).

:func:`stack` puts all recordings of one or more datasets into one Dataset with dims
``(session, time, neuron)``:

``activity`` (session, time, neuron), float32
    The processed traces; **0 wherever ``mask`` or ``valid`` is False** (NaN-free).
``mask`` (session, neuron), bool
    The recording has this neuron (identified, or an extra slot it fills).
``valid`` (session, time), bool
    The time lies within the recording. Recordings have different lengths; they are
    neither truncated to the shortest (that throws data away) nor padded with NaN: the
    time axis is as long as the longest recording and ``valid`` marks each one's span
    (always a prefix: ``valid[s, :n_samples[s]]``).
``label`` (session, neuron), str
    The recording's own channel name in that slot ("" where none): the trace back to
    the source, and what a renamed or extra channel was called.
coords on ``session``
    ``dataset``, ``subject``, ``session_id`` (the recording's own), ``source``,
    ``sfreq_original`` (Hz), ``n_samples_original``, ``t0_original`` and ``duration``
    (s, first sample time and last minus first), ``n_samples`` (on the grid), ``method``
    (``interpolate``, ``block`` or ``none``).
coords on ``neuron``
    ``labelled``: True for the 300 canonical neurons, False for extra slots.

Session names are ``"{dataset}/{id}"`` with ``id`` the key when a dataset's recordings
come as a mapping, else ``sub-{subject}_ses-{session}`` from the recording's attrs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .. import __version__, provenance, schema
from ..errors import InputError
from . import resample
from .names import canonical_neurons, check_side, map_neurons

#: Default common step (s) and minimum recording length (samples), as in the reference.
DT = 0.333
MIN_SAMPLES = 600
DATA_TYPES = ("neuron", "roi")
EXTRA_PREFIX = "extra-"


@dataclass
class Prepared:
    """One recording on the common grid (what :func:`prepare` returns)."""

    name: str
    dataset: str
    values: np.ndarray                 # (n_grid, n_channels), processed
    labels: list[str]                  # the recording's channel names
    canonical: list[str | None]        # canonical neuron per channel, None -> extra slot
    ok: np.ndarray                     # (n_channels,) False for flat traces
    method: str
    info: dict = field(default_factory=dict)


def _session_name(key, ds: xr.Dataset) -> str:
    if key is not None:
        return str(key)
    return f"sub-{ds.attrs.get('subject', '')}_ses-{ds.attrs.get('session', '')}"


def _recordings(datasets) -> list[tuple[str, str, xr.Dataset]]:
    if not isinstance(datasets, Mapping) or not datasets:
        raise InputError("homogenize: expected a non-empty mapping {dataset name: recordings}")
    out = []
    for dname, recs in datasets.items():
        if isinstance(recs, xr.Dataset):
            raise InputError(f"homogenize: dataset {dname!r}: expected a sequence or mapping "
                             "of recordings, got one Dataset")
        items = recs.items() if isinstance(recs, Mapping) else ((None, r) for r in recs)
        for key, ds in items:
            if not isinstance(ds, xr.Dataset):
                raise InputError(f"homogenize: dataset {dname!r}: expected xarray Datasets, "
                                 f"got {type(ds).__name__}")
            out.append((str(dname), f"{dname}/{_session_name(key, ds)}", ds))
    if not out:
        raise InputError(f"homogenize: datasets {sorted(datasets)} hold no recordings")
    names = [n for _, n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"homogenize: session names {dup[:3]} occur twice; pass each "
                         "dataset's recordings as a mapping {session id: Dataset}")
    return out


def prepare(ds: xr.Dataset, *, dt: float = DT, min_samples: int = MIN_SAMPLES, smooth=None,
            zscore: bool = True, kind: str = "cubic", awc_on: str | None = None,
            name: str = "recording", dataset: str = "") -> Prepared | str:
    """Process one calcium recording; return a :class:`Prepared`, or the reason to drop it.

    Parameters are those of :func:`stack`; ``name`` is used in messages.
    """
    schema.validate(ds, where=name, check_values=False)
    if ds.attrs["modality"] != "calcium":
        raise InputError(f"{name}: modality {ds.attrs['modality']!r}, expected 'calcium'")
    keep = np.isin(ds["channel_type"].values.astype(str), DATA_TYPES)
    if not keep.any():
        return f"no channels of type {list(DATA_TYPES)}"
    n_times = ds.sizes["time"]
    if n_times < min_samples:
        return f"{n_times} samples < min_samples {min_samples}"
    sub = ds.isel(channel=np.flatnonzero(keep))
    values = np.asarray(sub["signal"].values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise InputError(f"{name}: signal has NaN or Inf samples")
    time = np.asarray(sub["time"].values, dtype=np.float64)
    sfreq = float(ds.attrs["sfreq"])
    values = resample.smooth(values, sfreq, smooth)
    grid_time, values, method = resample.to_step(time, values, dt, kind=kind)
    ok = np.ones(values.shape[1], bool)
    if zscore:
        values, ok = resample.zscore(values)
    labels = [str(c) for c in sub["channel"].values]
    side = awc_on if awc_on is not None else ds.attrs.get("awc_on")
    mapped = map_neurons(labels, awc_on=check_side(side, f"{name}: awc_on"))
    info = dict(
        subject=str(ds.attrs.get("subject", "")), session_id=str(ds.attrs.get("session", "")),
        source=str(ds.attrs.get("source", "")), sfreq_original=sfreq,
        n_samples_original=int(n_times), t0_original=float(time[0]),
        duration=float(time[-1] - time[0]), n_samples=int(grid_time.size),
        units=str(sub["signal"].attrs.get("units", "a.u.")),
        renamed={lab: c for lab, (c, why) in zip(labels, mapped, strict=True)
                 if why.startswith("renamed")},
        flat=[lab for lab, good in zip(labels, ok, strict=True) if not good],
    )
    return Prepared(name=name, dataset=dataset, values=values, labels=labels,
                    canonical=[c for c, _ in mapped], ok=ok, method=method, info=info)


def stack(datasets: Mapping[str, Sequence[xr.Dataset] | Mapping[str, xr.Dataset]],
          dt: float = DT, min_samples: int = MIN_SAMPLES, smooth=None, zscore: bool = True,
          *, kind: str = "cubic", awc_on: str | None = None) -> xr.Dataset:
    """Stack the calcium recordings of one or more datasets on canonical neurons and one grid.

    Parameters
    ----------
    datasets : mapping
        ``{dataset name: recordings}``, recordings a sequence of contract Datasets or a
        mapping ``{session id: Dataset}``.
    dt : float
        Common step in s (default 0.333 s, about 3 Hz).
    min_samples : int
        Recordings with fewer samples are dropped (and listed in attrs ``dropped``).
    smooth : None, float or mapping
        See :func:`neurodag.homogenize.resample.smooth`.
    zscore : bool
        Standardise each neuron's trace (the default); otherwise keep the input units,
        which must then be the same in all recordings.
    kind : {"cubic", "pchip", "linear"}
        Interpolant used to resample (see :mod:`neurodag.homogenize.resample`).
    awc_on : {"L", "R"}, optional
        Side of AWCON for every recording; by default each recording's attr ``awc_on``
        if it has one, else AWCON/AWCOFF go to extra slots.

    Returns
    -------
    xarray.Dataset
        Dims ``(session, time, neuron)``; variables and coordinates as described in
        :mod:`neurodag.homogenize.worms`.

    Raises
    ------
    InputError
        No recordings, a recording that breaks the contract or is not calcium, duplicate
        session names, every recording too short, or mixed units without z-scoring.
    """
    min_samples = int(min_samples)
    if min_samples < 2:
        raise InputError(f"homogenize: min_samples must be at least 2, got {min_samples}")
    kept: list[Prepared] = []
    dropped = []
    for dname, sname, ds in _recordings(datasets):
        got = prepare(ds, dt=dt, min_samples=min_samples, smooth=smooth, zscore=zscore,
                      kind=kind, awc_on=awc_on, name=sname, dataset=dname)
        if isinstance(got, str):
            dropped.append({"session": sname, "dataset": dname, "reason": got})
        else:
            kept.append(got)
    if not kept:
        raise InputError(f"homogenize: no recording kept ({len(dropped)} dropped: "
                         f"{dropped[0]['reason'] if dropped else 'none given'})")
    units = "z-score" if zscore else _shared_units(kept)
    return _assemble(kept, dropped, dt=dt, units=units, attrs=dict(
        min_samples=min_samples, smooth=json.dumps(smooth), zscore=int(bool(zscore)),
        interpolation=kind))


def _shared_units(kept: list[Prepared]) -> str:
    units = sorted({p.info["units"] for p in kept})
    if len(units) > 1:
        raise InputError(f"homogenize: recordings have different units {units}; use zscore=True")
    return units[0]


def _assemble(kept: list[Prepared], dropped: list[dict], *, dt: float, units: str,
              attrs: dict) -> xr.Dataset:
    canon = canonical_neurons()
    index = {n: i for i, n in enumerate(canon)}
    n_extra = max(sum(c is None for c in p.canonical) for p in kept)
    neurons = list(canon) + [f"{EXTRA_PREFIX}{i + 1:03d}" for i in range(n_extra)]
    n_time = max(p.values.shape[0] for p in kept)
    n_s, n_n = len(kept), len(neurons)
    activity = np.zeros((n_s, n_time, n_n), np.float32)
    mask = np.zeros((n_s, n_n), bool)
    valid = np.zeros((n_s, n_time), bool)
    label = np.full((n_s, n_n), "", dtype=object)
    for s, p in enumerate(kept):
        extra = iter(range(len(canon), n_n))
        slots = np.array([index[c] if c is not None else next(extra) for c in p.canonical])
        n = p.values.shape[0]
        activity[s, :n, slots] = p.values.T.astype(np.float32)
        activity[s, :, slots[~p.ok]] = 0.0
        mask[s, slots] = p.ok
        valid[s, :n] = True
        label[s, slots] = p.labels
    info = {k: [p.info[k] for p in kept] for k in (
        "subject", "session_id", "source", "sfreq_original", "n_samples_original",
        "t0_original", "duration", "n_samples")}
    session_coords = {
        "dataset": ("session", _obj([p.dataset for p in kept])),
        "method": ("session", _obj([p.method for p in kept])),
        **{k: ("session", _obj(v) if isinstance(v[0], str) else np.asarray(v))
           for k, v in info.items()},
    }
    out = xr.Dataset(
        {
            "activity": (("session", "time", "neuron"), activity, {"units": units}),
            "mask": (("session", "neuron"), mask),
            "valid": (("session", "time"), valid),
            "label": (("session", "neuron"), label),
        },
        coords={
            "session": ("session", _obj([p.name for p in kept])),
            "time": ("time", np.arange(n_time, dtype=np.float64) * dt, {"units": "s"}),
            "neuron": ("neuron", _obj(neurons)),
            "labelled": ("neuron", np.arange(n_n) < len(canon)),
            **session_coords,
        },
    )
    out["sfreq_original"].attrs["units"] = "Hz"
    for k in ("t0_original", "duration"):
        out[k].attrs["units"] = "s"
    out.attrs.update(
        modality="calcium", dt=float(dt), sfreq=1.0 / float(dt), **attrs,
        dropped=json.dumps(dropped),
        renamed=json.dumps({p.name: p.info["renamed"] for p in kept if p.info["renamed"]}),
        flat=json.dumps({p.name: p.info["flat"] for p in kept if p.info["flat"]}),
        fill="activity is 0 wherever mask (session, neuron) or valid (session, time) is False",
        neurodag_version=__version__, config_digest="", created=provenance.now(),
    )
    return out


def _obj(values) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object)


def coverage(stacked: xr.Dataset) -> xr.DataArray:
    """Recordings per (dataset, neuron): how many sessions of each dataset have each neuron."""
    return stacked["mask"].groupby("dataset").sum("session").rename("sessions")
