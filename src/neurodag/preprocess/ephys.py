"""Electrophysiology through MNE: contract <-> Info/Raw, line frequency, filters, referencing.

The contract's channel types are MNE's (eeg, mag, grad, seeg, ecog, eog, ecg, emg, stim,
misc) and its units are SI, as in MNE, so blocks of samples become RawArrays unchanged.
Positions become a head-frame montage (EEG, sEEG, ECoG) or the first three values of
``loc`` (MEG: the contract carries no coil orientation), events become annotations.
"""

from __future__ import annotations

import re
import warnings

import mne
import numpy as np
import xarray as xr

from .. import schema
from ..errors import ConfigError, InputError

#: Contract channel types MNE knows by the same name; the rest (bold, roi, neuron) -> misc.
MNE_TYPES = ("eeg", "mag", "grad", "seeg", "ecog", "eog", "ecg", "emg", "stim", "misc")
#: Data channel types per modality (the ones that are filtered, checked and referenced).
DATA_TYPES = schema.DATA_CHANNEL_TYPES
#: A line frequency is "detected" when its spectral peak is this many times its surround.
LINE_PROMINENCE = 5.0
#: ICA is fitted on a copy filtered to this band (ICLabel's and MEGnet's training band).
ICA_BAND = (1.0, 100.0)
#: Template positions for EEG channels that have none (names of the 10-05 system).
TEMPLATE_MONTAGE = "colin27_1005"
TEMPLATE_MIN_MATCH = 0.8


def where(ds: xr.Dataset) -> str:
    """The name errors should carry: the store path when read from disk, else the source."""
    return str(ds.encoding.get("source") or ds.attrs.get("source") or "dataset")


def make_info(ds: xr.Dataset, montage: str | None = None) -> tuple[mne.Info, str]:
    """The ``mne.Info`` of a contract Dataset (its samples are read block by block).

    Returns the Info and where EEG positions came from (``"recording"``, the montage
    name, or ``"none"``).
    """
    names = [str(c) for c in ds["channel"].values]
    types = [t if t in MNE_TYPES else "misc" for t in ds["channel_type"].values.astype(str)]
    info = mne.create_info(names, float(ds.attrs["sfreq"]), types)
    positions = "none"
    if all(k in ds.coords for k in ("x", "y", "z")):
        pos = np.stack([ds[k].values.astype(float) for k in ("x", "y", "z")], axis=1)
        ok = np.isfinite(pos).all(axis=1)
        ch_pos = {n: p for n, p, t, g in zip(names, pos, types, ok, strict=True)
                  if g and t in ("eeg", "seeg", "ecog")}
        for i, (t, g) in enumerate(zip(types, ok, strict=True)):
            if g and t in ("mag", "grad"):
                info["chs"][i]["loc"][:3] = pos[i]
        if ch_pos:
            info.set_montage(mne.channels.make_dig_montage(ch_pos=ch_pos, coord_frame="head"),
                             on_missing="ignore", verbose="error")
            positions = "recording"
    eeg = [n for n, t in zip(names, types, strict=True) if t == "eeg"]
    if montage is not None or (positions == "none" and eeg):
        positions = _template_positions(info, eeg, montage) or positions
    return info, positions


def raw_of(info: mne.Info, data: np.ndarray, annotations=None) -> mne.io.RawArray:
    """A RawArray wrapping ``data`` (channel, time; float64, not copied) with ``info``."""
    raw = mne.io.RawArray(data, info, copy="auto", verbose="error")   # copies info only
    if annotations is not None and len(annotations):
        raw.set_annotations(annotations)
    return raw


def annotations_of(ds: xr.Dataset, pieces=None, sfreq: float | None = None):
    """The events of ``ds`` as ``mne.Annotations`` (onsets from the first sample).

    With ``pieces`` (sample ranges ``[(a, b), ...]`` laid end to end), the events are cut
    to the pieces and their onsets moved to the concatenated time line.
    """
    ev = schema.get_events(ds)
    t0 = float(ds["time"].values[0])
    onset = ev["onset"].to_numpy(float) - t0
    dur, label = ev["duration"].to_numpy(float), ev["label"].astype(str).tolist()
    if pieces is None:
        return mne.Annotations(onset, dur, label)
    out_on, out_dur, out_label, offset = [], [], [], 0.0
    for a, b in pieces:
        ta, tb = a / sfreq, b / sfreq
        for o, d, lab in zip(onset, dur, label, strict=True):
            lo, hi = max(o, ta), min(o + d, tb)
            if hi > lo or (d == 0 and ta <= o < tb):
                out_on.append(offset + lo - ta)
                out_dur.append(max(hi - lo, 0.0))
                out_label.append(lab)
        offset += tb - ta
    return mne.Annotations(out_on, out_dur, out_label)


def _template_positions(info, eeg: list[str], montage: str | None) -> str | None:
    """Positions of EEG channels from a montage shipped with MNE.

    An explicit ``montage`` is used for the channels it names; without one, the 10-05
    template (:data:`TEMPLATE_MONTAGE`) is used only when it names at least
    :data:`TEMPLATE_MIN_MATCH` of the EEG channels (names like A1..H16 of some BioSemi
    caps match nothing and keep no positions).
    """
    name = montage or TEMPLATE_MONTAGE
    mont = mne.channels.make_standard_montage(name)
    known = {c.lower(): c for c in mont.ch_names}
    hits = [c for c in eeg if c.lower() in known]
    if not eeg or (montage is None and len(hits) < TEMPLATE_MIN_MATCH * len(eeg)):
        return None
    pos = mont.get_positions()["ch_pos"]
    ch_pos = {c: pos[known[c.lower()]] for c in hits}
    info.set_montage(mne.channels.make_dig_montage(ch_pos=ch_pos, coord_frame="head"),
                     on_missing="ignore", verbose="error")
    return f"template {name} ({len(hits)} of {len(eeg)} EEG channels)"


def has_position(inst, name: str) -> bool:
    """Whether channel ``name`` of an Info (or Raw) has a position."""
    info = inst if isinstance(inst, mne.Info) else inst.info
    loc = info["chs"][info["ch_names"].index(name)]["loc"][:3]
    return bool(np.isfinite(loc).all() and np.any(loc != 0))


def contract(info: mne.Info, ds: xr.Dataset, signal, *, regions: dict | None = None,
             preprocess_json: str = "") -> xr.Dataset:
    """The contract Dataset of ``signal`` (time, channel; numpy or dask) with the channels
    of ``info``, keeping the attrs and events of ``ds``.

    ``regions`` maps output channel names to a region; by default a channel keeps the
    region it had in ``ds``.
    """
    names = list(info["ch_names"])
    types = info.get_channel_types()
    old = {str(c): i for i, c in enumerate(ds["channel"].values)}
    old_types = ds["channel_type"].values.astype(str)
    # Types MNE maps to misc keep their contract type; bipolar channels keep the anode's.
    ctypes = [old_types[old[n]] if n in old and t == "misc" else t for n, t in
              zip(names, types, strict=True)]
    units = [ds["unit"].values[old[n]] if n in old else schema.DEFAULT_UNITS.get(t, "a.u.")
             for n, t in zip(names, ctypes, strict=True)]
    region = None
    if "region" in ds.coords or regions:
        region = [(regions or {}).get(n) or (str(ds["region"].values[old[n]])
                  if n in old and "region" in ds.coords else "") for n in names]
    pos = np.array([info["chs"][i]["loc"][:3] for i in range(len(names))], dtype=float)
    pos[~np.any(pos != 0, axis=1)] = np.nan
    out = schema.build(
        signal, sfreq=info["sfreq"], channels=names, channel_types=ctypes,
        modality=ds.attrs["modality"], subject=ds.attrs["subject"],
        session=ds.attrs["session"], t0=float(ds["time"].values[0]), units=units,
        region=region, positions=pos, events=schema.get_events(ds) if "events" in ds else None,
    )
    out.attrs = dict(ds.attrs)
    out.attrs["preprocess"] = preprocess_json
    return out


# -- line frequency ----------------------------------------------------------------------

def line_candidates(sfreq: float) -> list[float]:
    """Mains frequencies the spectrum can show at this rate."""
    return [f for f in (50.0, 60.0) if f < sfreq / 2 - 7]


def line_spectrum(sfreq: float, n_times: int):
    """A :class:`~neurodag.preprocess.streamstats.Welch` accumulator for the spectrum
    :func:`line_frequency` reads (0.25 Hz resolution around the candidates), or None
    when the recording is too short or the rate too low."""
    from .streamstats import Welch

    cands = line_candidates(sfreq)
    if n_times < 2 * sfreq or not cands:
        return None
    return Welch(sfreq, int(min(n_times, 4 * sfreq)), min(cands) - 6, max(cands) + 6)


def line_frequency(option, attr, sfreq: float, n_times: int, spectrum=None
                   ) -> tuple[float | None, str]:
    """The mains frequency and how it was found: the option, the recording's attr, or the
    spectrum of the data channels (``(psd, freqs)`` from :func:`line_spectrum`; the
    larger of the 50 and 60 Hz peak prominences, if above :data:`LINE_PROMINENCE`)."""
    if option is not None:
        return float(option), "option line_freq"
    if attr is not None and np.isfinite(float(attr)) and float(attr) > 0:
        return float(attr), "recording attribute line_freq"
    if n_times < 2 * sfreq:
        return None, (f"not detected: {n_times / sfreq:.2f} s is too short to resolve "
                      "50/60 Hz peaks; no notch")
    prom = {f: _prominence(*spectrum, f) for f in line_candidates(sfreq)}
    if not prom:
        return None, f"not detected: sampling rate {sfreq:g} Hz is too low for 50/60 Hz"
    best = max(prom, key=prom.get)
    text = ", ".join(f"{f:g} Hz peak {p:.1f}x its surround" for f, p in prom.items())
    if prom[best] < LINE_PROMINENCE:
        return None, f"not detected from the spectrum ({text}); no notch"
    return best, f"detected from the spectrum ({text})"


def _prominence(psd: np.ndarray, freqs: np.ndarray, freq: float) -> float:
    """Median over channels of the PSD at ``freq`` over the median PSD 2-6 Hz around it."""
    at = np.abs(freqs - freq) <= 0.5
    near = (np.abs(freqs - freq) >= 2) & (np.abs(freqs - freq) <= 6)
    ratio = psd[:, at].max(axis=1) / np.maximum(np.median(psd[:, near], axis=1), 1e-300)
    return float(np.median(ratio))


def harmonics(line_freq: float, sfreq: float) -> list[float]:
    """The line frequency and its harmonics below Nyquist (with a 1 Hz margin)."""
    return [float(f) for f in np.arange(line_freq, sfreq / 2.0 - 1.0, line_freq)]


# -- filters -----------------------------------------------------------------------------

#: Total transition band of the notch filters (Hz): 1 Hz each side keeps the FIR 3.3 s
#: long, like the 1 Hz high-pass (MNE's default of 1 Hz would need 6.6 s).
NOTCH_TRANSITION = 2.0


def design(sfreq: float, l_freq, h_freq, **kw) -> np.ndarray:
    """MNE's FIR filter (firwin, Hamming, 'auto' length and transitions) for a band."""
    return mne.filter.create_filter(None, sfreq, l_freq, h_freq, fir_design="firwin",
                                    verbose="error", **kw)


def notch_design(sfreq: float, freqs: list[float]) -> np.ndarray:
    """The notch filter of ``raw.notch_filter(freqs, trans_bandwidth=NOTCH_TRANSITION)``:
    one band-stop FIR for all ``freqs`` (widths freq/200)."""
    freqs = np.asarray(freqs, float)
    widths, tb = freqs / 200.0, NOTCH_TRANSITION / 2.0
    return design(sfreq, freqs + widths / 2 + tb, freqs - widths / 2 - tb,
                  l_trans_bandwidth=tb, h_trans_bandwidth=tb)


def filter_length(sfreq: float, l_freq, h_freq, **kw) -> int:
    """Samples of MNE's FIR filter (firwin, 'auto' length) for a pass or stop band."""
    return int(np.size(design(sfreq, l_freq, h_freq, **kw)))


def notch_length(sfreq: float, freqs: list[float]) -> int:
    """Samples of the notch filter at ``freqs`` (widths freq/200, :data:`NOTCH_TRANSITION`)."""
    return int(np.size(notch_design(sfreq, freqs)))


def check_band(band, sfreq: float, key: str = "bandpass") -> tuple:
    """``band`` as (low, high) or a one-line ConfigError when an edge is at/above Nyquist."""
    low, high = band
    nyq = sfreq / 2.0
    for edge, value in (("high", high), ("low", low)):
        if value is not None and value >= nyq:
            raise ConfigError(f"preprocess.{key}: {edge} edge {value:g} Hz is at or above the "
                              f"Nyquist frequency ({nyq:g} Hz) of a {sfreq:g} Hz recording")
    return low, high


def check_length(n_times: int, sfreq: float, filters: list[tuple[str, int]], name: str) -> None:
    """One-line InputError when the recording is shorter than the longest filter."""
    for label, length in filters:
        if n_times < length:
            raise InputError(
                f"{name}: recording is {n_times / sfreq:.2f} s ({n_times} samples) but the "
                f"{label} needs at least {length / sfreq:.2f} s ({length} samples)")


def band_label(low, high) -> str:
    if low is not None and high is not None:
        return f"{low:g}-{high:g} Hz band-pass"
    if low is not None:
        return f"{low:g} Hz high-pass"
    if high is not None:
        return f"{high:g} Hz low-pass"
    return "no filter"


def filter_picks(types: list[str]) -> np.ndarray:
    """The channels filters apply to: every one but stim and misc (data, EOG, ECG, EMG)."""
    return np.array([i for i, t in enumerate(types) if t not in ("stim", "misc")], dtype=int)


# -- referencing -------------------------------------------------------------------------

def average_reference(raw, ch_type: str) -> None:
    """Common average of the good channels of ``ch_type`` (bads excluded, but re-referenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw.set_eeg_reference("average", ch_type=ch_type, projection=False, verbose="error")


_CONTACT = re.compile(r"^(.*?)(\d+)$")


def bipolar_pairs(names: list[str], bads: list[str]) -> list[tuple[str, str]]:
    """Consecutive contacts of each shaft (LA1-LA2, LA2-LA3, ...), skipping bad contacts.

    A shaft is the name without its trailing number; pairs are formed only between
    contacts whose numbers differ by one, so a bad contact leaves a gap.
    """
    shafts: dict[str, dict[int, str]] = {}
    for n in names:
        m = _CONTACT.match(n)
        if m and n not in bads:
            shafts.setdefault(m.group(1), {})[int(m.group(2))] = n
    pairs = []
    for contacts in shafts.values():
        for k in sorted(contacts):
            if k + 1 in contacts:
                pairs.append((contacts[k], contacts[k + 1]))
    return pairs


def bipolar_reference(raw, pairs, region: dict[str, str]) -> tuple[mne.io.BaseRaw, dict]:
    """Raw with one channel per pair (anode - cathode), and each pair's region.

    The region of ``A-B`` is the contacts' region if they agree, else ``"regionA/regionB"``.
    The position of a bipolar channel is the midpoint of its contacts.
    """
    if not pairs:
        raise InputError("bipolar reference: no two consecutive good contacts on any shaft "
                         "(names like LA1, LA2)")
    anodes, cathodes = [a for a, _ in pairs], [c for _, c in pairs]
    names = [f"{a}-{c}" for a, c in pairs]
    pos = {n: raw.info["chs"][raw.ch_names.index(n)]["loc"][:3].copy()
           for n in set(anodes) | set(cathodes)}
    out = mne.set_bipolar_reference(raw, anodes, cathodes, ch_name=names, drop_refs=True,
                                    copy=True, on_bad="ignore", verbose="error")
    regions = {}
    for (a, c), name in zip(pairs, names, strict=True):
        ra, rc = region.get(a, ""), region.get(c, "")
        regions[name] = ra if ra == rc else f"{ra}/{rc}"
        loc = out.info["chs"][out.ch_names.index(name)]["loc"]
        loc[:3] = (pos[a] + pos[c]) / 2.0
    # Keep the shaft order of the input, bipolar channels first.
    order = names + [n for n in out.ch_names if n not in names]
    out.reorder_channels(order)
    return out, regions
