"""Condition patterns from a contract Dataset and its events, for representational geometry.

A pattern array is an :class:`xarray.DataArray` with dims ``(condition, channel, repeat)``:

``condition``
    One entry per event label (or per label and time bin, see ``time_bins``), with
    coordinates ``label`` and, for ephys, ``bin_start``/``bin_stop`` (s after onset).
``channel``
    The contract's data channels (auxiliary EOG/ECG/stim channels are left out), with
    ``region`` when the contract has it.
``repeat``
    Independent estimates of each condition: fold averages of epochs (ephys) or betas of
    single events (fMRI with ``per_event=True``). Cross-validated distances (crossnobis)
    need them; the other metrics use their mean. ``n_trials`` (condition, repeat) says how
    many epochs each fold holds.

:func:`epochs` handles EEG/MEG/sEEG/ECoG/calcium/spikes (windowed epoch means, baseline
corrected), :func:`glm_betas` fMRI (first-level GLM betas from nilearn), and
:func:`condition_patterns` picks one by modality. :func:`region_map` gives the channel
groups (regions) whose RDMs :func:`neurodag.models.rsa.trsa.run` compares across sessions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ... import schema
from ...errors import InputError

EPHYS = ("eeg", "meg", "seeg", "ecog", "calcium", "spikes")


def _where(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("source", "dataset"))


def _data_channels(ds: xr.Dataset) -> np.ndarray:
    kinds = schema.DATA_CHANNEL_TYPES.get(ds.attrs.get("modality"), ())
    keep = np.isin(ds["channel_type"].values.astype(str), kinds)
    if not keep.any():
        raise InputError(f"{_where(ds)}: no data channels of type {list(kinds)}")
    return ds["channel"].values[keep]


def _events(ds: xr.Dataset, labels: Sequence[str] | None) -> tuple[pd.DataFrame, list[str]]:
    ev = schema.get_events(ds)
    if ev.empty:
        raise InputError(f"{_where(ds)}: no events; condition patterns need labelled events")
    present = list(dict.fromkeys(ev["label"]))
    if labels is None:
        labels = present
    labels = [str(x) for x in labels]
    missing = sorted(set(labels) - set(present))
    if missing:
        raise InputError(f"{_where(ds)}: event label(s) {missing} not found (has {present})")
    return ev[ev["label"].isin(labels)].reset_index(drop=True), labels


def event_labels(ds: xr.Dataset) -> list[str]:
    """The event labels of ``ds`` in order of first appearance (InputError if none)."""
    return _events(ds, None)[1]


def epochs(ds: xr.Dataset, *, window=(0.1, 0.6), baseline=(-0.2, 0.0), labels=None,
           time_bins: int = 1, n_folds: int | None = None, normalize="auto") -> xr.DataArray:
    """Mean response per condition in a time window after each event, folds kept as repeats.

    Parameters
    ----------
    ds : xarray.Dataset
        A contract Dataset with ``events``.
    window : (float, float)
        Start and stop (s, relative to onset) of the response window.
    baseline : (float, float) or None
        Window whose per-channel mean is subtracted from each epoch; ``None`` for none.
    labels : sequence of str, optional
        Event labels to keep (default: all, in order of first appearance).
    time_bins : int
        Split the window into this many equal bins; each (label, bin) is a condition,
        named ``"{label}@{start:.3f}-{stop:.3f}s"``.
    n_folds : int, optional
        Repeats per condition. Epochs of a condition are dealt round-robin (in time order)
        into ``n_folds`` folds and averaged within each, so that every condition has the
        same number of repeats. Default: the smallest epoch count over the labels.
    normalize : bool or "auto"
        Divide each channel by its noise sd: the sd of the baseline samples of all epochs
        (univariate noise normalisation). Puts channels of different kinds (MEG
        magnetometers and gradiometers) on one scale; ``"auto"`` does it when the
        channels' units differ and a baseline is given.

    Returns
    -------
    xarray.DataArray
        ``(condition, channel, repeat)`` in the signal's units; see the module docstring.
    """
    where = _where(ds)
    sfreq = float(ds.attrs["sfreq"])
    t0, t1 = (float(v) for v in window)
    if not t1 > t0:
        raise InputError(f"{where}: window {tuple(window)} must have stop > start")
    if baseline is not None:
        b0, b1 = (float(v) for v in baseline)
        if not b1 > b0:
            raise InputError(f"{where}: baseline {tuple(baseline)} must have stop > start")
    time_bins = int(time_bins)
    if time_bins < 1 or (t1 - t0) * sfreq < time_bins:
        raise InputError(f"{where}: time_bins={time_bins} does not fit {t1 - t0:g} s at "
                         f"{sfreq:g} Hz")
    ev, labels = _events(ds, labels)
    channels = _data_channels(ds)
    sig = ds["signal"].sel(channel=channels)
    time = ds["time"].values
    lo = min(t0, b0) if baseline is not None else t0
    first = np.round((ev["onset"].to_numpy() + lo - time[0]) * sfreq).astype(int)
    n_samp = int(np.round((t1 - lo) * sfreq))
    ok = (first >= 0) & (first + n_samp <= time.size)
    ev, first = ev[ok].reset_index(drop=True), first[ok]
    rel = lo + np.arange(n_samp) / sfreq
    edges = np.linspace(t0, t1, time_bins + 1)
    bin_masks = [(rel >= a) & (rel < b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    base_mask = (rel >= b0) & (rel < b1) if baseline is not None else None
    if base_mask is not None and not base_mask.any():
        raise InputError(f"{where}: baseline {tuple(baseline)} holds no sample")

    # Epochs are sliced one by one so that a lazy (zarr/dask) signal is read only where
    # events are; memory grows with the number of events, not with the recording.
    units = ds["unit"].sel(channel=channels).values
    if normalize == "auto":
        normalize = base_mask is not None and np.unique(units).size > 1
    if normalize and base_mask is None:
        raise InputError(f"{where}: normalize needs a baseline window")
    per_event = np.empty((len(ev), time_bins, channels.size))
    base_ss = np.zeros(channels.size)
    for i, s in enumerate(first):
        x = np.asarray(sig.data[s:s + n_samp], dtype=np.float64)
        if base_mask is not None:
            x = x - x[base_mask].mean(axis=0)
            base_ss += (x[base_mask] ** 2).sum(axis=0)
        per_event[i] = [x[m].mean(axis=0) for m in bin_masks]
    unit = ds["signal"].attrs.get("units", "a.u.")
    if normalize and len(ev):
        sd = np.sqrt(base_ss / max(len(ev) * int(base_mask.sum()) - len(ev), 1))
        if np.any(sd == 0):
            raise InputError(f"{where}: a channel is flat in the baseline; cannot normalize")
        per_event /= sd
        unit = "noise sd"

    counts = ev["label"].value_counts()
    if any(counts.get(lab, 0) == 0 for lab in labels):
        bad = [lab for lab in labels if counts.get(lab, 0) == 0]
        raise InputError(f"{where}: no complete epoch for label(s) {bad} with window "
                         f"{tuple(window)}")
    n_min = int(min(counts[lab] for lab in labels))
    n_folds = n_min if n_folds is None else int(n_folds)
    if not 1 <= n_folds <= n_min:
        raise InputError(f"{where}: n_folds={n_folds} must be in 1..{n_min} (fewest epochs "
                         "of a label)")
    data = np.empty((len(labels), time_bins, channels.size, n_folds))
    n_trials = np.zeros((len(labels), n_folds), dtype=int)
    for c, lab in enumerate(labels):
        idx = np.flatnonzero(ev["label"].to_numpy() == lab)
        fold = np.arange(idx.size) % n_folds
        for f in range(n_folds):
            data[c, :, :, f] = per_event[idx[fold == f]].mean(axis=0)
            n_trials[c, f] = int((fold == f).sum())
    names, lab_coord, start, stop = [], [], [], []
    for lab in labels:
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            names.append(lab if time_bins == 1 else f"{lab}@{a:.3f}-{b:.3f}s")
            lab_coord.append(lab)
            start.append(a)
            stop.append(b)
    out = xr.DataArray(
        data.reshape(len(labels) * time_bins, channels.size, n_folds),
        dims=("condition", "channel", "repeat"),
        coords={"condition": np.asarray(names, dtype=object),
                "label": ("condition", np.asarray(lab_coord, dtype=object)),
                "bin_start": ("condition", np.asarray(start)),
                "bin_stop": ("condition", np.asarray(stop)),
                "channel": np.asarray(channels, dtype=object),
                "repeat": np.arange(n_folds),
                "n_trials": (("condition", "repeat"), np.repeat(n_trials, time_bins, 0))},
        attrs={"units": unit, "kind": "epochs",
               "window": [t0, t1], "baseline": list(baseline) if baseline else [],
               "session": str(ds.attrs.get("session", "")),
               "subject": str(ds.attrs.get("subject", ""))},
    )
    if "region" in ds.coords:
        out = out.assign_coords(region=("channel", ds["region"].sel(channel=channels).values))
    return out


def glm_betas(ds: xr.Dataset, *, labels=None, per_event: bool = False,
              hrf_model: str = "glover", drift_model: str | None = "cosine",
              high_pass: float = 0.01, confounds: Sequence[str] | None = None,
              noise_model: str = "ar1") -> xr.DataArray:
    """Condition betas of a first-level GLM (nilearn) on each channel's time series.

    Each channel is scaled to percent signal change around its mean; each condition
    regressor (events convolved with the HRF) is scaled to a peak of 1, so that a beta is
    the response at the plateau of a long block, in % signal change.

    Parameters
    ----------
    ds : xarray.Dataset
        A contract Dataset (fMRI: parcels or voxels as channels) with ``events``;
        ``t_r = 1 / sfreq``.
    labels : sequence of str, optional
        Event labels to model as conditions (others are still modelled, as nuisance).
    per_event : bool
        One regressor per event ("least squares all"): the betas of a condition's events
        are its repeats. Otherwise one regressor per label and a single repeat.
    hrf_model, drift_model, high_pass : see
        :func:`nilearn.glm.first_level.make_first_level_design_matrix`.
    confounds : sequence of str, optional
        Columns of ``ds["confounds"]`` to add as nuisance regressors.
    noise_model : str
        ``"ar1"`` or ``"ols"`` (:func:`nilearn.glm.first_level.run_glm`).

    Returns
    -------
    xarray.DataArray
        ``(condition, channel, repeat)`` betas in % signal change.
    """
    from nilearn.glm.first_level import make_first_level_design_matrix, run_glm

    where = _where(ds)
    ev, labels = _events(ds, labels)
    all_ev = schema.get_events(ds)
    channels = _data_channels(ds)
    y = np.asarray(ds["signal"].sel(channel=channels).values, dtype=np.float64)
    mean = y.mean(axis=0)
    if np.any(np.abs(mean) < 1e-12):
        raise InputError(f"{where}: a channel has zero mean; cannot scale to % signal change")
    y = 100.0 * (y / mean - 1.0)
    frames = ds["time"].values - ds["time"].values[0]
    table = all_ev.rename(columns={"label": "trial_type"}).copy()
    table["onset"] = table["onset"] - ds["time"].values[0]
    key = table["trial_type"].astype(str).copy()
    if per_event:
        for lab in labels:
            rows = np.flatnonzero(key.to_numpy() == lab)
            key.iloc[rows] = [f"{lab}__{k:04d}" for k in range(rows.size)]
    table["trial_type"] = key
    add, add_names = None, None
    if confounds:
        if "confounds" not in ds:
            raise InputError(f"{where}: confounds {list(confounds)} asked for, none stored")
        have = ds["confound"].values.astype(str).tolist()
        bad = sorted(set(confounds) - set(have))
        if bad:
            raise InputError(f"{where}: confound(s) {bad} not in {have}")
        add = np.nan_to_num(ds["confounds"].sel(confound=list(confounds)).values)
        add_names = list(confounds)
    design = make_first_level_design_matrix(
        frames, table[["onset", "duration", "trial_type"]], hrf_model=hrf_model,
        drift_model=drift_model, high_pass=high_pass, add_regs=add, add_reg_names=add_names)
    regs = {lab: [c for c in design.columns if c == lab or c.startswith(f"{lab}__")]
            for lab in labels}
    for lab, cols in regs.items():
        if not cols:
            raise InputError(f"{where}: label {lab!r} gives no regressor (outside the run?)")
        for c in cols:
            peak = design[c].abs().max()
            if peak > 0:
                design[c] = design[c] / peak
    glm_labels, results = run_glm(y, design.to_numpy(), noise_model=noise_model)
    theta = np.empty((design.shape[1], y.shape[1]))
    for key_, res in results.items():
        theta[:, glm_labels == key_] = res.theta
    col = {c: i for i, c in enumerate(design.columns)}
    n_rep = max(len(c) for c in regs.values())
    data = np.full((len(labels), channels.size, n_rep), np.nan)
    for i, lab in enumerate(labels):
        for r, c in enumerate(regs[lab]):
            data[i, :, r] = theta[col[c]]
    out = xr.DataArray(
        data, dims=("condition", "channel", "repeat"),
        coords={"condition": np.asarray(labels, dtype=object),
                "label": ("condition", np.asarray(labels, dtype=object)),
                "channel": np.asarray(channels, dtype=object), "repeat": np.arange(n_rep),
                "n_trials": (("condition", "repeat"), (~np.isnan(data[:, 0, :])).astype(int))},
        attrs={"units": "%", "kind": "glm_betas", "hrf_model": hrf_model,
               "session": str(ds.attrs.get("session", "")),
               "subject": str(ds.attrs.get("subject", ""))},
    )
    if "region" in ds.coords:
        out = out.assign_coords(region=("channel", ds["region"].sel(channel=channels).values))
    return out


def condition_patterns(ds: xr.Dataset, **options) -> xr.DataArray:
    """:func:`glm_betas` for fMRI, :func:`epochs` for the other modalities."""
    modality = ds.attrs.get("modality")
    if modality == "fmri":
        return glm_betas(ds, **options)
    if modality in EPHYS:
        return epochs(ds, **options)
    raise InputError(f"{_where(ds)}: no condition patterns for modality {modality!r}")


#: Channels with known positions needed to split the scalp into quadrants.
MIN_POSITIONED = 4


def _positions(ds: xr.Dataset | None, chans: np.ndarray):
    """``(x, y, finite)`` of the channels, or None when fewer than :data:`MIN_POSITIONED`
    have both (a BIDS EEG without electrodes.tsv has all-NaN positions)."""
    if ds is None or not {"x", "y"} <= set(ds.coords):
        return None
    x = np.asarray(ds["x"].sel(channel=chans).values, dtype=np.float64)
    y = np.asarray(ds["y"].sel(channel=chans).values, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    return (x, y, ok) if ok.sum() >= MIN_POSITIONED else None


def region_map(patterns: xr.DataArray, regions="auto", *, positions: xr.Dataset | None = None,
               min_channels: int = 3) -> dict[str, list[str]]:
    """Channel groups to compute one RDM each on.

    Parameters
    ----------
    patterns : xarray.DataArray
        From :func:`condition_patterns`.
    regions : "auto", "region", "quadrant", "all", mapping or None
        ``"region"``: the contract's ``region`` coordinate; ``"quadrant"``: sensors split at
        the median x (left/right) and y (posterior/anterior) of their positions (taken
        from ``positions``; channels without one are left out); ``"auto"``: ``"region"`` if
        present, else ``"quadrant"`` if at least :data:`MIN_POSITIONED` channels have
        positions, else one group; a mapping ``{name: [channels]}``; ``"all"`` or ``None``:
        one group ``"all"``.
    positions : xarray.Dataset, optional
        The contract Dataset (for its ``x``/``y`` coordinates).
    min_channels : int
        Groups with fewer channels are dropped (``"unknown"``/``"white matter"`` regions too).

    Returns
    -------
    dict
        ``{region: [channel, ...]}`` in a stable (sorted) order.
    """
    chans = patterns["channel"].values.astype(str)
    if isinstance(regions, Mapping):
        bad = sorted({c for v in regions.values() for c in v} - set(chans))
        if bad:
            raise InputError(f"trsa regions: channel(s) {bad[:5]} not among the data channels")
        return {str(k): [str(c) for c in v] for k, v in sorted(regions.items())}
    xy = _positions(positions, chans)
    has_pos = xy is not None
    if regions == "all":
        regions = None
    if regions == "auto":
        regions = "region" if "region" in patterns.coords else ("quadrant" if has_pos else None)
    if regions is None:
        return {"all": chans.tolist()}
    if regions == "region":
        if "region" not in patterns.coords:
            raise InputError("trsa regions='region': the dataset has no region coordinate")
        reg = patterns["region"].values.astype(str)
    elif regions == "quadrant":
        if not has_pos:
            raise InputError("trsa regions='quadrant': the dataset has no channel positions "
                             f"(x, y) for {MIN_POSITIONED} or more data channels")
        x, y, ok = xy
        xm, ym = np.median(x[ok]), np.median(y[ok])
        reg = np.where(~ok, "unknown", np.char.add(
            np.where(y >= ym, "anterior-", "posterior-"), np.where(x < xm, "left", "right")))
    else:
        raise InputError(f"trsa regions={regions!r}: expected 'auto', 'region', 'quadrant', "
                         "a mapping or None")
    out = {}
    for name in sorted(set(reg.tolist()) - {"unknown", "white matter", ""}):
        members = chans[reg == name].tolist()
        if len(members) >= min_channels:
            out[name] = members
    return out
