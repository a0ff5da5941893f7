"""The EEG, MEG, sEEG and ECoG pipeline: notch, band-pass, bad channels, reference, ICA.

Order: line frequency -> notch (and harmonics) -> band-pass -> bad channels (on the
band-passed data) -> average reference of the good channels (EEG, ECoG) -> ICA (fitted
on a 1-100 Hz copy, see :mod:`neurodag.preprocess.ica_subset`) -> interpolation of bad
EEG channels with positions (spherical splines, then the average reference is applied
again) or dropping of the others (MEG: the contract has no coil orientations for field
interpolation; sEEG/ECoG: contacts are not interpolated) -> bipolar reference (sEEG).

Memory stays flat in the recording's length: the recording is read in blocks with
margins (:mod:`neurodag.preprocess.blocks`), in passes that each hold one block:

0. the raw samples: NaN/Inf, flat channels, the spectrum for the line frequency;
1. notch + band-pass: amplitude statistics of the bad-channel criteria; the ICA fit data;
2. notch + band-pass: neighbour correlations (their neighbours need pass 1's verdict);
3. (targeted ICA removal) notch + band-pass + reference: the removed components'
   envelopes, whose median and MAD set the gate;
4. notch + band-pass + reference + ICA removal + interpolation + reference: the output,
   written block by block.

Filters, reference and ICA removal give what they give on the whole recording, up to the
rounding of the FFT (the tests compare them with MNE on the whole recording).
"""

from __future__ import annotations

import mne
import numpy as np
import xarray as xr

from .. import store
from ..errors import ConfigError, InputError
from . import bads as _bads
from . import blocks, ephys
from . import ica as _ica
from .ica_apply import Remover
from .ica_subset import Subset, fit_rate
from .streamstats import Moments

FILTER_DESIGN = "MNE FIR (firwin, Hamming window, zero phase, 'auto' length and transitions)"


def run(ds: xr.Dataset, opts: dict, options_json: str, *, block_bytes: int | None = None
        ) -> tuple[xr.Dataset, dict]:
    """Preprocess one EEG/MEG/sEEG/ECoG contract Dataset in memory; see the module docstring."""
    sink = _MemorySink()
    qc = process(ds, opts, options_json, sink, block_bytes=block_bytes)
    return sink.result(), qc


def stream(ds: xr.Dataset, path, opts: dict, options_json: str, *,
           block_bytes: int | None = None) -> dict:
    """Preprocess ``ds`` (lazily opened is best) into the zarr store ``path``, block by
    block; returns the qc dict. ``path`` is written in place (give a temporary path)."""
    sink = _StoreSink(lambda template: store.SignalWriter(template, path))
    qc = process(ds, opts, options_json, sink, block_bytes=block_bytes)
    sink.writer.close()
    return qc


class _MemorySink:
    def open(self, template):
        self.template = template
        self.data = np.empty(template["signal"].shape, dtype=template["signal"].dtype)
        self.done = 0

    def write(self, block):
        self.data[self.done:self.done + len(block)] = block
        self.done += len(block)

    def result(self) -> xr.Dataset:
        sig = self.template["signal"]
        return self.template.assign(signal=(sig.dims, self.data, sig.attrs))


class _StoreSink:
    def __init__(self, make):
        self.make, self.writer = make, None

    def open(self, template):
        self.writer = self.make(template)

    def write(self, block):
        self.writer.write(block)


class _Plan:
    """What every pass needs: channels, filters, blocks."""

    def __init__(self, ds, opts, block_bytes):
        self.ds, self.opts, self.name = ds, opts, ephys.where(ds)
        self.modality = ds.attrs["modality"]
        self.info, self.positions_from = ephys.make_info(ds, opts["montage"])
        self.sfreq, self.n = float(self.info["sfreq"]), int(ds.sizes["time"])
        self.names, self.types = list(self.info["ch_names"]), self.info.get_channel_types()
        self.data_names = [n for n, t in zip(self.names, self.types, strict=True)
                           if t in ephys.DATA_TYPES[self.modality]]
        self.fpicks = ephys.filter_picks(self.types)
        self.block = blocks.block_length(len(self.names), self.n, block_bytes)
        self.spans = blocks.spans(self.n, self.block)
        self.avg_type = {"eeg": "eeg", "ecog": "ecog", "seeg": "seeg"}.get(self.modality)

    def index(self, names) -> list[int]:
        return [self.names.index(n) for n in names]

    def set_filters(self, notch, band) -> None:
        self.notch, self.band = notch, band
        # Away from the recording's edges (where each filter of a cascade pads its own
        # input) the cascade is one filter, the convolution of the two: half the FFTs.
        self.both = blocks.Fir(np.convolve(notch.h, band.h)) \
            if notch is not None and band is not None else None

    def filtered(self, margin: int, *, on_raw=None, on_notched=None, notched=()):
        """``(chunk, x, lo, hi)`` per block, notched and band-passed: the samples
        ``lo:hi`` of ``x`` are exact. ``on_raw(chunk)`` sees the block before the filters,
        ``on_notched(i, x, lo, hi, chunk)`` between them (for the blocks ``notched``)."""
        for i, ch in enumerate(blocks.chunks(self.ds, self.spans, margin)):
            if on_raw is not None:
                on_raw(ch)
            x, lo, hi = ch.data, ch.lo, ch.hi
            if self.both is not None and 0 < lo and hi < self.n and i not in notched:
                yield (ch, *self.both.apply(x, lo, hi, self.n, self.fpicks))
                continue
            if self.notch is not None:
                x, lo, hi = self.notch.apply(x, lo, hi, self.n, self.fpicks)
            if on_notched is not None and i in notched:
                on_notched(i, x, lo, hi, ch)
            if self.band is not None:
                x, lo, hi = self.band.apply(x, lo, hi, self.n, self.fpicks)
            yield ch, x, lo, hi


def process(ds: xr.Dataset, opts: dict, options_json: str, sink, *,
            block_bytes: int | None = None) -> dict:
    """The passes of the module docstring; the output goes to ``sink`` (open, write)."""
    p = _Plan(ds, opts, block_bytes)
    _check_reference(p.modality, opts["reference"])
    if not p.data_names:
        raise InputError(f"{p.name}: no {p.modality} data channels (channel types "
                         f"{sorted(set(p.types))})")
    line_acc = None
    if opts["notch"] and opts["line_freq"] is None and not _valid(ds.attrs.get("line_freq")):
        line_acc = ephys.line_spectrum(p.sfreq, p.n)
    _scan(p, line_acc)
    low, high = ephys.check_band(opts["bandpass"], p.sfreq)
    band = blocks.Fir(ephys.design(p.sfreq, low, high)) \
        if (low is not None or high is not None) else None
    lengths = [(ephys.band_label(low, high), band.h.size)] if band is not None else []
    if opts["ica"]["enabled"]:
        lengths.append(("1 Hz high-pass of the ICA fit",
                        ephys.filter_length(p.sfreq, ephys.ICA_BAND[0], None)))
    ephys.check_length(p.n, p.sfreq, lengths, p.name)
    if opts["notch"]:
        line, how = ephys.line_frequency(opts["line_freq"], ds.attrs.get("line_freq"),
                                         p.sfreq, p.n,
                                         line_acc.result() if line_acc is not None else None)
    else:
        line, how = None, "notch disabled by option"
    p.line = line
    freqs = ephys.harmonics(line, p.sfreq) if line else []
    notch = None
    if freqs:
        notch = blocks.Fir(ephys.notch_design(p.sfreq, freqs))
        ephys.check_length(p.n, p.sfreq, [(f"notch at {line:g} Hz", notch.h.size)], p.name)
    p.set_filters(notch, band)

    bad, subset = _find_bads(p, opts)
    good = [n for n in p.data_names if n not in bad]
    if not good:
        raise InputError(f"{p.name}: all {len(p.data_names)} {p.modality} channels are bad "
                         f"({_count_reasons(bad)}); nothing to preprocess")
    reference = {"kind": opts["reference"]}
    if opts["reference"] == "average":
        reference["channels"] = len(good)
    remover, qc_ica = _fit_ica(p, subset, bad, good)
    if remover is not None and remover.targeted:
        margin = _margin(p) + remover.margin
        for ch, x, lo, _hi in p.filtered(margin):
            raw = _referenced(p, x, bad)
            remover.add_envelopes(raw, slice(ch.start - lo, ch.stop - lo))
        remover.finish_envelopes()
    actions, out = _write(p, sink, bad, remover, options_json)
    if remover is not None:
        qc_ica["variance_removed"] = remover.qc()
    reference.update(out.pop("reference", {}))
    clean_names, per_channel = out["names"], out["variance_removed"]
    type_of = dict(zip(p.names, p.types, strict=True))
    return {
        "line_freq": {"value": line, "how": how},
        "filters": _filters_qc(freqs, low, high, p),
        "positions": p.positions_from,
        "bad_channels": [dict(channel=n, type=type_of[n], action=actions[n], **info)
                         for n, info in bad.items()],
        "reference": reference,
        "ica": qc_ica,
        "variance_removed": {
            "median": float(np.median(list(per_channel.values()))) if per_channel else None,
            "per_channel": per_channel,
            "ica": qc_ica.get("variance_removed", {}).get("total")
            if qc_ica.get("enabled") else None},
        "n_channels": {"in": len(p.names), "out": len(clean_names)},
        "blocks": {"samples": p.block, "count": len(p.spans)},
    }


def _valid(attr) -> bool:
    try:
        return attr is not None and np.isfinite(float(attr)) and float(attr) > 0
    except (TypeError, ValueError):
        return False


def _scan(p: _Plan, line_acc) -> None:
    """Pass 0: NaN/Inf (one line naming the channels) and all-flat data; the spectrum."""
    data = np.array(p.index(p.data_names))
    hi, lo = np.full(len(data), -np.inf), np.full(len(data), np.inf)
    bad = np.zeros(len(p.names), bool)
    for a, b in p.spans:
        x = blocks.read(p.ds, a, b)
        bad |= ~np.isfinite(x).all(axis=1)
        if bad.any():
            continue
        hi, lo = np.maximum(hi, x[data].max(axis=1)), np.minimum(lo, x[data].min(axis=1))
        if line_acc is not None:
            line_acc.update(x[data])
    if bad.any():
        names = [p.names[i] for i in np.flatnonzero(bad)][:5]
        raise InputError(f"{p.name}: signal has NaN or Inf samples (channels {names})")
    if (hi - lo == 0).all():
        raise InputError(f"{p.name}: all {len(data)} {p.modality} channels are flat "
                         "(constant); nothing to preprocess")


def _margin(p: _Plan) -> int:
    return blocks.margin_of([f for f in (p.notch, p.band) if f is not None])


def _find_bads(p: _Plan, opts: dict) -> tuple[dict, Subset | None]:
    """Passes 1 and 2: the bad channels (and, on the way, the ICA fit data)."""
    o = opts["bads"]
    groups = {}
    for t in dict.fromkeys(p.info.get_channel_types(picks=p.data_names)):
        names = [n for n in p.data_names if p.types[p.names.index(n)] == t]
        pos = np.array([p.info["chs"][p.names.index(n)]["loc"][:3]
                        if ephys.has_position(p.info, n) else [np.nan] * 3 for n in names])
        groups[t] = (p.index(names), _bads.BadChannelStats(
            names, pos, p.sfreq, flat_ratio=o["flat_ratio"], z_threshold=o["z_threshold"],
            n_neighbours=o["n_neighbours"], window=o["window"]))
    subset = None
    margin = _margin(p)
    if opts["ica"]["enabled"]:
        decim, resample_to = fit_rate(p.sfreq, p.modality, opts["ica"]["decim"], p.n,
                                      opts["ica"]["max_samples"])
        subset = Subset(p.ds, p.info, p.spans, decim, resample_to, opts["ica"]["max_samples"])
        margin = blocks.margin_of([f for f in (p.notch, subset.fir) if f is not None])
        margin = max(margin, _margin(p))

    def to_subset(i, x, lo, hi, ch):
        subset.add(x.copy(), lo, hi, ch, p.fpicks)

    for ch, x, lo, _hi in p.filtered(margin, on_notched=to_subset,
                                     notched=subset.chosen if subset is not None else ()):
        inner = x[:, ch.start - lo:ch.stop - lo]
        for rows, stats in groups.values():
            stats.update_amplitude(inner[rows])
    for _, stats in groups.values():
        stats.finish_amplitude()
    if any(s.needs_correlation for _, s in groups.values()):
        for ch, x, lo, _hi in p.filtered(_margin(p)):
            inner = x[:, ch.start - lo:ch.stop - lo]
            for rows, stats in groups.values():
                if stats.needs_correlation:
                    stats.update_correlation(inner[rows])
    found = {}
    for _, stats in groups.values():
        found.update(stats.result())
    return {n: found[n] for n in p.data_names if n in found}, subset


def _referenced(p: _Plan, x: np.ndarray, bad: dict) -> mne.io.RawArray:
    raw = ephys.raw_of(p.info, x)
    raw.info["bads"] = list(bad)
    if p.opts["reference"] == "average":
        ephys.average_reference(raw, p.avg_type)
    return raw


def _fit_ica(p: _Plan, subset, bad: dict, good: list[str]):
    if subset is None:
        return None, {"enabled": False}
    raw_fit = subset.raw()
    raw_fit.info["bads"] = list(bad)
    if p.opts["reference"] == "average":
        ephys.average_reference(raw_fit, p.avg_type)
    picks, outside = _ica_picks(raw_fit, good, p.modality)
    rank = _rank(raw_fit, picks)
    ica, comps, qc = _ica.fit(raw_fit, picks, p.modality, p.opts["ica"], rank)
    qc["not_in_ica"] = outside
    if ica is None:
        return None, qc
    data = [n for n in p.data_names if n not in bad]
    remover = Remover(ica, comps, p.opts["ica"], p.names, data,
                      [p.types[p.names.index(n)] for n in data], p.sfreq)
    return remover, qc


def _write(p: _Plan, sink, bad: dict, remover, options_json: str) -> tuple[dict, dict]:
    """Pass 4: the output, block by block. Returns the bad channels' actions and qc."""
    actions = _bad_actions(p, bad)
    dropped = [n for n, a in actions.items() if a == "dropped"]
    interpolated = [n for n, a in actions.items() if a == "interpolated"]
    keep = [n for n in p.names if n not in dropped]
    pairs, region, out = [], {}, {}
    if p.opts["reference"] == "bipolar":
        ds = p.ds
        if "region" in ds.coords:
            region = dict(zip(ds["channel"].values.astype(str),
                              ds["region"].values.astype(str), strict=True))
        pairs = ephys.bipolar_pairs([n for n in keep if n in p.data_names], [])
        out["reference"] = {"pairs": [f"{a}-{c}" for a, c in pairs]}
        out_data = [f"{a}-{c}" for a, c in pairs]
        inputs = [(p.names.index(a), p.names.index(c)) for a, c in pairs]
    else:
        out_data = [n for n in keep if n in p.data_names]
        inputs = [(p.names.index(n), None) for n in out_data]
    x_in, y_out = Moments(len(out_data)), Moments(len(out_data))
    margin = _margin(p) + (remover.margin if remover is not None else 0)
    regions = None
    def inputs_of(ch):   # the raw input of each output channel, before filtering
        x = ch.data[:, ch.inner]
        x_in.update(np.array([x[a] if c is None else x[a] - x[c] for a, c in inputs]))

    for ch, x, lo, _hi in p.filtered(margin, on_raw=inputs_of):
        inner = slice(ch.start - lo, ch.stop - lo)
        raw = _referenced(p, x, bad)
        if remover is not None:
            remover.apply(raw, inner)
        raw = ephys.raw_of(raw.info, raw._data[:, inner])
        if interpolated:
            raw.info["bads"] = interpolated
            raw.interpolate_bads(reset_bads=True, mode="accurate", verbose="error")
        if dropped:
            raw.drop_channels(dropped)
        raw.info["bads"] = []
        if p.opts["reference"] == "average" and interpolated:
            ephys.average_reference(raw, p.avg_type)
        if p.opts["reference"] == "bipolar":
            raw, regions = ephys.bipolar_reference(raw, pairs, region)
        y = raw.get_data()
        y_out.update(y[[raw.ch_names.index(n) for n in out_data]])
        if ch.start == 0:
            template = ephys.contract(
                raw.info, p.ds, store.lazy_zeros(p.n, len(raw.ch_names), p.ds["signal"].dtype),
                regions=regions, preprocess_json=options_json)
            template.attrs["line_freq"] = _line_attr(p)
            sink.open(template)
            out["names"] = list(raw.ch_names)
        sink.write(y.T)
    vx, vy = x_in.var, y_out.var
    out["variance_removed"] = {n: float(1.0 - b / a) if a > 0 else 0.0
                               for n, a, b in zip(out_data, vx, vy, strict=True)}
    return actions, out


def _line_attr(p: _Plan):
    return p.line if p.line is not None else p.ds.attrs.get("line_freq", "")


def _check_reference(modality: str, ref: str) -> None:
    allowed = {"eeg": ("average", "none"), "meg": ("none",),
               "seeg": ("bipolar", "average", "none"), "ecog": ("average", "bipolar", "none")}
    if ref not in allowed[modality]:
        raise ConfigError(f"preprocess.reference: {ref!r} does not apply to {modality} "
                          f"(expected one of {list(allowed[modality])})")


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


def _bad_actions(p: _Plan, bad: dict) -> dict:
    """``{channel: "interpolated" | "dropped"}``: bad EEG channels with positions are
    interpolated (if at least 4 good EEG channels have positions), the others dropped."""
    actions = {n: "dropped" for n in bad}
    if bad and p.modality == "eeg" and p.opts["bads"]["interpolate"]:
        with_pos = [n for n in bad if ephys.has_position(p.info, n)]
        good_pos = [n for n, t in zip(p.names, p.types, strict=True)
                    if n not in bad and t == "eeg" and ephys.has_position(p.info, n)]
        if with_pos and len(good_pos) >= 4:
            actions.update({n: "interpolated" for n in with_pos})
    return actions


def _filters_qc(freqs, low, high, p: _Plan) -> list[dict]:
    out = []
    if freqs:
        out.append({"kind": "notch", "freqs": freqs, "widths": [f / 200.0 for f in freqs],
                    "length_s": p.notch.h.size / p.sfreq, "design": FILTER_DESIGN})
    if p.band is not None:
        out.append({"kind": ephys.band_label(low, high), "low": low, "high": high,
                    "length_s": p.band.h.size / p.sfreq, "design": FILTER_DESIGN})
    return out
