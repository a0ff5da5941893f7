"""The EEG, MEG, sEEG and ECoG pipeline: notch, band-pass, bad channels, reference, ICA.

Order: line frequency -> notch (and harmonics) -> band-pass -> bad channels (on the
band-passed data) -> average reference of the good channels (EEG, ECoG) -> ICA (fitted
on a 1-100 Hz copy, see :mod:`neurodag.preprocess.ica`) -> interpolation of bad EEG
channels with positions (spherical splines, then the average reference is applied again)
or dropping of the others (MEG: the contract has no coil orientations for field
interpolation; sEEG/ECoG: contacts are not interpolated) -> bipolar reference (sEEG).
The recording is loaded in memory (MNE filters whole channels).
"""

from __future__ import annotations

import mne
import numpy as np
import xarray as xr

from ..errors import ConfigError, InputError
from . import bads as _bads
from . import ephys
from . import ica as _ica

FILTER_DESIGN = "MNE FIR (firwin, Hamming window, zero phase, 'auto' length and transitions)"


def run(ds: xr.Dataset, opts: dict, options_json: str) -> tuple[xr.Dataset, dict]:
    """Preprocess one EEG/MEG/sEEG/ECoG contract Dataset; see the module docstring."""
    name = ephys.where(ds)
    modality = ds.attrs["modality"]
    _check_reference(modality, opts["reference"])
    raw, positions_from = ephys.to_raw(ds, opts["montage"])
    sfreq = raw.info["sfreq"]
    types = raw.get_channel_types()
    data_names = [n for n, t in zip(raw.ch_names, types, strict=True)
                  if t in ephys.DATA_TYPES[modality]]
    if not data_names:
        raise InputError(f"{name}: no {modality} data channels (channel types "
                         f"{sorted(set(types))})")
    signal = ds["signal"].sel(channel=data_names)   # the input, read again where needed
    if ((signal.max("time") - signal.min("time")).values == 0).all():
        raise InputError(f"{name}: all {len(data_names)} {modality} channels are flat "
                         "(constant); nothing to preprocess")
    low, high = ephys.check_band(opts["bandpass"], sfreq)
    filters = []
    if low is not None or high is not None:
        filters.append((ephys.band_label(low, high), ephys.filter_length(sfreq, low, high)))
    if opts["ica"]["enabled"]:
        filters.append(("1 Hz high-pass of the ICA fit", ephys.filter_length(
            sfreq, ephys.ICA_BAND[0], None)))
    ephys.check_length(raw.n_times, sfreq, filters, name)
    if opts["notch"]:
        line, how = ephys.line_frequency(raw, data_names, opts["line_freq"],
                                         ds.attrs.get("line_freq"))
    else:
        line, how = None, "notch disabled by option"
    freqs = ephys.harmonics(line, sfreq) if line else []
    if freqs:
        ephys.check_length(raw.n_times, sfreq,
                           [(f"notch at {line:g} Hz", ephys.notch_length(sfreq, freqs))], name)

    type_of = dict(zip(raw.ch_names, types, strict=True))
    ephys.notch(raw, freqs)
    fit_base = raw.copy() if opts["ica"]["enabled"] else None
    ephys.bandpass(raw, low, high)

    bad = _find_bads(raw, data_names, modality, opts["bads"])
    good = [n for n in data_names if n not in bad]
    if not good:
        raise InputError(f"{name}: all {len(data_names)} {modality} channels are bad "
                         f"({_count_reasons(bad)}); nothing to preprocess")
    raw.info["bads"] = list(bad)
    reference = {"kind": opts["reference"]}
    avg_type = {"eeg": "eeg", "ecog": "ecog", "seeg": "seeg"}.get(modality)
    if opts["reference"] == "average":
        ephys.average_reference(raw, avg_type)
        reference["channels"] = len(good)
    if fit_base is not None:
        fit_base.info["bads"] = list(bad)
        if opts["reference"] == "average":
            ephys.average_reference(fit_base, avg_type)
        raw_fit = _ica.fit_copy(fit_base, modality)
        del fit_base
        picks, outside = _ica_picks(raw_fit, good, modality)
        rank = _rank(raw_fit, picks)
        qc_ica = _ica.run(raw, raw_fit, picks, modality, opts["ica"], rank)
        qc_ica["not_in_ica"] = outside
        del raw_fit
    else:
        qc_ica = {"enabled": False}

    actions = _handle_bads(raw, bad, modality, opts)
    if opts["reference"] == "average" and any(a == "interpolated" for a in actions.values()):
        raw.info["bads"] = []
        ephys.average_reference(raw, avg_type)
    regions = None
    if opts["reference"] == "bipolar":
        keep = [n for n in raw.ch_names if n in data_names]
        region = dict(zip(ds["channel"].values.astype(str),
                          ds["region"].values.astype(str), strict=True)) \
            if "region" in ds.coords else {}
        pairs = ephys.bipolar_pairs(keep, [])
        raw, regions = ephys.bipolar_reference(raw, pairs, region)
        reference["pairs"] = [f"{a}-{c}" for a, c in pairs]

    clean = ephys.from_raw(raw, ds, regions=regions, preprocess_json=options_json)
    clean.attrs["line_freq"] = line if line is not None else ds.attrs.get("line_freq", "")
    out_data = [n for n, t in zip(clean["channel"].values, clean["channel_type"].values,
                                  strict=True) if t in ephys.DATA_TYPES[modality]]
    qc = {
        "line_freq": {"value": line, "how": how},
        "filters": _filters_qc(freqs, low, high, sfreq),
        "positions": positions_from,
        "bad_channels": [dict(channel=n, type=type_of[n],
                              action=actions[n], **info) for n, info in bad.items()],
        "reference": reference,
        "ica": qc_ica,
        "variance_removed": _variance_removed(ds, raw, out_data, qc_ica),
        "n_channels": {"in": len(ds["channel"]), "out": len(clean["channel"])},
    }
    return clean, qc


def _check_reference(modality: str, ref: str) -> None:
    allowed = {"eeg": ("average", "none"), "meg": ("none",),
               "seeg": ("bipolar", "average", "none"), "ecog": ("average", "bipolar", "none")}
    if ref not in allowed[modality]:
        raise ConfigError(f"preprocess.reference: {ref!r} does not apply to {modality} "
                          f"(expected one of {list(allowed[modality])})")


def _find_bads(raw, data_names, modality, opts) -> dict:
    types = raw.get_channel_types(picks=data_names)
    out = {}
    for t in dict.fromkeys(types):
        names = [n for n, tt in zip(data_names, types, strict=True) if tt == t]
        pos = np.array([raw.info["chs"][raw.ch_names.index(n)]["loc"][:3]
                        if ephys.has_position(raw, n) else [np.nan] * 3 for n in names])
        out.update(_bads.find_bads(raw.get_data(picks=names), raw.info["sfreq"], names, pos,
                                   flat_ratio=opts["flat_ratio"],
                                   z_threshold=opts["z_threshold"],
                                   n_neighbours=opts["n_neighbours"], window=opts["window"]))
    return {n: out[n] for n in data_names if n in out}


def _count_reasons(bad: dict) -> str:
    reasons = [b["reason"] for b in bad.values()]
    return ", ".join(f"{r} {reasons.count(r)}" for r in dict.fromkeys(reasons))


def _ica_picks(raw_fit, good: list[str], modality: str) -> tuple[list[str], list[str]]:
    """The channels ICA decomposes: the good ones; for EEG/MEG, whose labelling networks
    need sensor positions, only those with positions when they are at least half of them
    (the others are left out of ICA, and so not cleaned by it)."""
    if modality not in ("eeg", "meg"):
        return good, []
    with_pos = [n for n in good if ephys.has_position(raw_fit, n)]
    if len(with_pos) == len(good) or len(with_pos) < 0.5 * len(good):
        return good, []
    return with_pos, [n for n in good if n not in with_pos]


def _rank(raw_fit, picks) -> int:
    sub = raw_fit.copy().pick(picks)
    sub.info["bads"] = []
    ranks = mne.compute_rank(sub, rank=None, verbose="error")
    return int(sum(ranks.values()))


def _handle_bads(raw, bad: dict, modality: str, opts: dict) -> dict:
    """Interpolate bad EEG channels that have positions (if enough good ones do); drop the
    rest. Returns ``{channel: "interpolated" | "dropped"}``."""
    if not bad:
        return {}
    actions = {n: "dropped" for n in bad}
    if modality == "eeg" and opts["bads"]["interpolate"]:
        with_pos = [n for n in bad if ephys.has_position(raw, n)]
        good_pos = [n for n in raw.ch_names if n not in bad and
                    raw.get_channel_types([n])[0] == "eeg" and ephys.has_position(raw, n)]
        if with_pos and len(good_pos) >= 4:
            raw.info["bads"] = with_pos
            raw.interpolate_bads(reset_bads=True, mode="accurate", verbose="error")
            actions.update({n: "interpolated" for n in with_pos})
    drop = [n for n, a in actions.items() if a == "dropped"]
    if drop:
        raw.drop_channels(drop)
    raw.info["bads"] = []
    return actions


def _filters_qc(freqs, low, high, sfreq) -> list[dict]:
    out = []
    if freqs:
        out.append({"kind": "notch", "freqs": freqs, "widths": [f / 200.0 for f in freqs],
                    "length_s": ephys.notch_length(sfreq, freqs) / sfreq,
                    "design": FILTER_DESIGN})
    if low is not None or high is not None:
        out.append({"kind": ephys.band_label(low, high), "low": low, "high": high,
                    "length_s": ephys.filter_length(sfreq, low, high) / sfreq,
                    "design": FILTER_DESIGN})
    return out


def _variance_removed(ds, raw_out, out_data, qc_ica) -> dict:
    """1 - var(clean)/var(raw) per output data channel (bipolar: vs the raw difference),
    and its median; the ICA's own share is in ``ica``. The input is read one channel at a
    time from the contract Dataset (no second copy of the recording)."""
    per = {}
    names_in = set(ds["channel"].values.astype(str))

    def x_of(name):
        return np.asarray(ds["signal"].sel(channel=name).values, dtype=np.float64)

    for n in out_data:
        if n in names_in:
            x = x_of(n)
        elif "-" in n and all(p in names_in for p in n.split("-", 1)):
            a, c = n.split("-", 1)
            x = x_of(a) - x_of(c)
        else:
            continue
        y = raw_out.get_data(picks=[n])[0]
        vx = x.var()
        per[n] = float(1.0 - y.var() / vx) if vx > 0 else 0.0
    ica_total = qc_ica.get("variance_removed", {}).get("total") if qc_ica.get("enabled") else None
    return {"median": float(np.median(list(per.values()))) if per else None,
            "per_channel": per, "ica": ica_total}
