"""ICA with automatic component labels: ICLabel (EEG), MEGnet (MEG), EOG/ECG correlation.

The decomposition is fitted on a copy of the recording filtered to 1-100 Hz (and, for
MEG, resampled to 250 Hz), which is what ICLabel and MEGnet were trained on; the unmixing
is then applied to the output band. A component is removed when its most probable label
is in ``ica.remove`` with a probability of at least ``ica.threshold``, or when MNE's
``find_bads_eog`` / ``find_bads_ecg`` flag it (EOG/ECG channels present). Components
labelled brain, other or brain/other are never removed by the labeller.

Removal: ``ica.mode: full`` subtracts the components everywhere (MNE's ``ica.apply``);
``targeted`` (default) subtracts them only where they are active (:func:`gate`), which
keeps the brain activity their spatial filters let through the rest of the time.

Both networks run offline on the CPU through onnxruntime (ICLabel is asked for its onnx
backend: with torch installed it would otherwise import torch, 3-4 s). MEGnet needs at
least 60 s at 250 Hz (15000 samples) and magnetometers with positions: otherwise it is
skipped and qc.json says why; ICLabel needs EEG positions (template 10-05 positions are
used when the channel names allow, see :func:`neurodag.preprocess.ephys.to_raw`).
"""

from __future__ import annotations

import warnings

import mne
import numpy as np

from .ephys import ICA_BAND, has_position
from .options import KEEP_CLASSES

#: Seconds of each component's time course kept in qc.json (for the report), and its rate.
EXCERPT_S, EXCERPT_HZ = 10.0, 100.0
MEGNET_SFREQ, MEGNET_MIN_SAMPLES = 250.0, 15000


def fit_copy(raw: mne.io.BaseRaw, modality: str) -> mne.io.BaseRaw:
    """``raw`` made into what ICA is fitted on, in place (the caller's copy): 1-100 Hz
    (100 Hz capped below Nyquist), MEG at 250 Hz."""
    fit = raw
    high = ICA_BAND[1] if ICA_BAND[1] < fit.info["sfreq"] / 2 - 1 else None
    picks = [i for i, t in enumerate(fit.get_channel_types()) if t not in ("stim", "misc")]
    fit.filter(ICA_BAND[0], high, picks=picks, fir_design="firwin", verbose="error")
    if modality == "meg" and abs(fit.info["sfreq"] - MEGNET_SFREQ) > 0.1:
        fit.resample(MEGNET_SFREQ, verbose="error")
    return fit


def run(raw_out: mne.io.BaseRaw, raw_fit: mne.io.BaseRaw, picks: list[str], modality: str,
        opts: dict, rank: int) -> dict:
    """Fit ICA on ``raw_fit`` (channels ``picks``), label, remove artifacts from ``raw_out``.

    ``raw_out`` is changed in place. Returns the qc dict of the ICA.
    """
    n_comp = int(min(opts["n_components"], rank))
    if n_comp < 2:
        return {"enabled": True, "skipped": f"only {rank} independent channels"}
    fit_params = {"extended": True} if (modality == "eeg" and opts["method"] == "infomax") else {}
    ica = mne.preprocessing.ICA(n_components=n_comp, method=opts["method"],
                                random_state=opts["random_state"], max_iter=opts["max_iter"],
                                fit_params=fit_params, verbose="error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: reported via n_iter_
        ica.fit(raw_fit, picks=picks, verbose="error")
    labels, probs, classes, labeller, why = _label(raw_fit, ica, modality)
    flagged = _eog_ecg(raw_fit, ica, opts)
    remove = set(opts["remove"])
    comps = []
    for k in range(ica.n_components_):
        label = labels[k] if labels is not None else "unlabelled"
        p = float(probs[k].max()) if probs is not None else None
        reasons = []
        if p is not None and label in remove and label not in KEEP_CLASSES and \
                p >= opts["threshold"]:
            reasons.append(f"{labeller}: {label} ({p:.2f})")
        for kind, (idx, scores) in flagged.items():
            if k in idx:
                reasons.append(f"{kind} correlation ({scores[k]:.2f})")
        comps.append({
            "index": k, "label": label, "probability": p,
            "probabilities": (None if probs is None else
                              {c: round(float(v), 4) for c, v in zip(classes, probs[k],
                                                                     strict=True)}),
            **{f"{kind}_score": float(s[k]) for kind, (_, s) in flagged.items()},
            "removed": bool(reasons), "reasons": reasons,
        })
    ica.exclude = [c["index"] for c in comps if c["removed"]]
    data_picks = mne.pick_channels(raw_out.ch_names, picks)
    before = raw_out._data[data_picks].var(axis=1)   # variances only: no kept copy
    if opts["mode"] == "full" or not ica.exclude:
        ica.apply(raw_out, verbose="error")
    else:
        _apply_targeted(ica, raw_out, data_picks, comps, opts["gate_z"])
    after = raw_out._data[data_picks].var(axis=1)
    removed = _fraction_removed(before, after, [raw_out.get_channel_types()[i]
                                                for i in data_picks])
    _add_patterns_and_excerpts(ica, raw_fit, comps)
    return {
        "enabled": True, "method": opts["method"] + (" (extended)" if fit_params else ""),
        "n_components": int(ica.n_components_), "n_iter": int(getattr(ica, "n_iter_", 0)),
        "random_state": opts["random_state"], "fit_band": [ICA_BAND[0], raw_fit.info["lowpass"]],
        "fit_sfreq": float(raw_fit.info["sfreq"]), "labeller": labeller,
        "labeller_note": why, "threshold": opts["threshold"], "remove_labels": sorted(remove),
        "channels": list(picks),
        "positions": all(has_position(raw_fit, n) for n in picks),
        "components": comps, "n_removed": len(ica.exclude),
        "variance_removed": removed,
    }


def _label(raw_fit, ica, modality):
    """(labels, probabilities (n, n_classes), class names, labeller name, note)."""
    from mne_icalabel.config import ICALABEL_METHODS, ICALABEL_METHODS_NUMERICAL_TO_STRING

    picks = ica.ch_names
    method = {"eeg": "iclabel", "meg": "megnet"}.get(modality)
    if method is None:
        return None, None, None, "none", f"no labelling network for {modality}"
    if not all(has_position(raw_fit, n) for n in picks):
        return None, None, None, "none", (f"{method} needs sensor positions; some ICA channels "
                                          "have none (components labelled by EOG/ECG only)")
    if method == "megnet" and raw_fit.n_times < MEGNET_MIN_SAMPLES:
        return None, None, None, "none", (
            f"megnet needs at least {MEGNET_MIN_SAMPLES / MEGNET_SFREQ:g} s at 250 Hz; the "
            f"recording has {raw_fit.n_times / raw_fit.info['sfreq']:.1f} s "
            "(components labelled by EOG/ECG only)")
    if method == "megnet" and "mag" not in raw_fit.get_channel_types(picks=picks):
        return None, None, None, "none", "megnet needs magnetometers"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # band/reference/sfreq advisories: we follow them
        kw = {"backend": "onnx"} if method == "iclabel" else {}
        probs = np.asarray(ICALABEL_METHODS[method](raw_fit, ica, **kw))
    names = ICALABEL_METHODS_NUMERICAL_TO_STRING[method]
    classes = [names[i] for i in range(probs.shape[1])]
    labels = [classes[i] for i in probs.argmax(axis=1)]
    return labels, probs, classes, method, ""


def _eog_ecg(raw_fit, ica, opts) -> dict:
    """MNE's EOG/ECG detectors where those channels exist: {kind: (indices, scores)}."""
    types = raw_fit.get_channel_types()
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if opts["eog"] and "eog" in types:
            idx, scores = ica.find_bads_eog(raw_fit, verbose="error")
            scores = np.max(np.abs(np.atleast_2d(scores)), axis=0)
            out["eog"] = (list(idx), scores)
        if opts["ecg"] and "ecg" in types:
            idx, scores = ica.find_bads_ecg(raw_fit, method="ctps", verbose="error")
            out["ecg"] = (list(idx), np.abs(np.asarray(scores)))
    return out


def _fraction_removed(vb, va, types) -> dict:
    """1 - var(after)/var(before) from per-channel variances: per type (summed over
    channels) and overall (mean of the per-type fractions weighted by channel count)."""
    types = np.asarray(types)
    per_type = {}
    for t in dict.fromkeys(types.tolist()):
        m = types == t
        per_type[t] = float(1.0 - va[m].sum() / vb[m].sum()) if vb[m].sum() > 0 else 0.0
    total = float(sum(per_type[t] * (types == t).sum() for t in per_type) / len(types))
    return {"total": total, "per_type": per_type}


def _add_patterns_and_excerpts(ica, raw_fit, comps) -> None:
    """Mixing pattern per channel and a short time course of each component (for the report)."""
    patterns = ica.get_components()  # (n_channels, n_components)
    sfreq = raw_fit.info["sfreq"]
    step = max(1, int(round(sfreq / EXCERPT_HZ)))
    n = int(min(raw_fit.n_times, EXCERPT_S * sfreq))
    src = ica.get_sources(raw_fit, start=0, stop=n).get_data()   # the excerpt only
    for c in comps:
        k = c["index"]
        x = src[k, :n:step]
        x = x / (x.std() or 1.0)
        c["pattern"] = [float(f"{v:.4g}") for v in patterns[:, k]]
        c["excerpt"] = {"sfreq": sfreq / step, "values": [float(f"{v:.3g}") for v in x]}


#: Targeted removal: padding (s) around supra-threshold stretches and the taper (s) used.
GATE_PAD, GATE_TAPER, GATE_SMOOTH = 0.25, 0.2, 0.1


def gate(source: np.ndarray, sfreq: float, z: float) -> np.ndarray:
    """0-1 weights that are 1 where a component is active (targeted removal).

    The envelope (moving rms over :data:`GATE_SMOOTH` s) is active where its robust
    z-score (median/MAD) exceeds ``z``; active stretches are padded by :data:`GATE_PAD` s
    and their edges tapered over :data:`GATE_TAPER` s (a Hann window), so the removal
    starts and stops smoothly.
    """
    from scipy.ndimage import binary_dilation, uniform_filter1d

    env = np.sqrt(uniform_filter1d(source ** 2, max(1, int(GATE_SMOOTH * sfreq))))
    med = np.median(env)
    scale = 1.4826 * np.median(np.abs(env - med)) or (env.std() or 1.0)
    active = (env - med) / scale > z
    active = binary_dilation(active, np.ones(2 * int(GATE_PAD * sfreq) + 1, bool))
    win = np.hanning(max(3, int(GATE_TAPER * sfreq)))
    return np.clip(np.convolve(active.astype(float), win / win.max(), mode="same"), 0.0, 1.0)


def _apply_targeted(ica, raw_out, data_picks, comps, z) -> None:
    """Subtract each removed component only where it is active (see :func:`gate`).

    Full removal subtracts the component everywhere, and with it the brain activity its
    spatial filter lets through; removing it only during its artifacts (blinks, muscle
    bursts) keeps that brain activity the rest of the time ("targeted" artifact reduction,
    as in RELAX, Bailey et al. 2023). Components flagged for continuous artifacts (heart,
    line and channel noise) are active most of the time and so are removed almost fully.
    """
    # A component's contribution to the channels is linear: its (pre-whitened) mixing
    # column times its source, which is what ica.apply(exclude=[k]) subtracts; computed so,
    # no copy of the recording is made per component.
    sources = ica.get_sources(raw_out).get_data()
    mixing = ica.pre_whitener_[:, :1] * ica.get_components()     # (ica channels, comps), V/T
    row = {n: i for i, n in enumerate(ica.ch_names)}
    names = [raw_out.ch_names[i] for i in data_picks]
    target = np.asarray([data_picks[j] for j, n in enumerate(names) if n in row])
    rows = np.asarray([row[n] for n in names if n in row])
    sfreq = raw_out.info["sfreq"]
    for k in ica.exclude:
        g = gate(sources[k], sfreq, z)
        raw_out._data[target] -= np.outer(mixing[rows, k], sources[k] * g)
        comps[k]["active_fraction"] = float(g.mean())
