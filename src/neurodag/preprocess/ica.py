"""ICA with automatic component labels: ICLabel (EEG), MEGnet (MEG), EOG/ECG correlation.

The decomposition is fitted on a copy of the recording filtered to 1-100 Hz (what ICLabel
and MEGnet were trained on), decimated (MEG: to 250 Hz) and capped in length (see
:mod:`neurodag.preprocess.ica_subset`); the unmixing is then applied to the output band,
block by block (:class:`Remover`). A component is removed when its most probable label
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


def fit(raw_fit: mne.io.BaseRaw, picks: list[str], modality: str, opts: dict, rank: int
        ) -> tuple[mne.preprocessing.ICA | None, list[dict], dict]:
    """Fit ICA on ``raw_fit`` (channels ``picks``) and decide which components to remove.

    Returns the fitted ICA (``exclude`` set; None when there are fewer than two
    independent channels), one dict per component, and the qc dict of the ICA.
    """
    n_comp = int(min(opts["n_components"], rank))
    if n_comp < 2:
        return None, [], {"enabled": True, "skipped": f"only {rank} independent channels"}
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
    _add_patterns_and_excerpts(ica, raw_fit, comps)
    qc = {
        "enabled": True, "method": opts["method"] + (" (extended)" if fit_params else ""),
        "n_components": int(ica.n_components_), "n_iter": int(getattr(ica, "n_iter_", 0)),
        "random_state": opts["random_state"], "fit_band": [ICA_BAND[0], raw_fit.info["lowpass"]],
        "fit_sfreq": float(raw_fit.info["sfreq"]), "fit_samples": int(raw_fit.n_times),
        "labeller": labeller,
        "labeller_note": why, "threshold": opts["threshold"], "remove_labels": sorted(remove),
        "channels": list(picks),
        "positions": all(has_position(raw_fit, n) for n in picks),
        "components": comps, "n_removed": len(ica.exclude),
    }
    return ica, comps, qc


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
            f"ICA fit data have {raw_fit.n_times / raw_fit.info['sfreq']:.1f} s "
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


def envelope(source: np.ndarray, sfreq: float) -> np.ndarray:
    """Moving rms of a component over :data:`GATE_SMOOTH` s (last axis)."""
    from scipy.ndimage import uniform_filter1d

    return np.sqrt(uniform_filter1d(source ** 2, max(1, int(GATE_SMOOTH * sfreq)), axis=-1))


def gate_scale(env: np.ndarray) -> tuple[float, float]:
    """Median and robust scale (1.4826 MAD; else the sd; else 1) of an envelope."""
    med = np.median(env)
    return float(med), float(1.4826 * np.median(np.abs(env - med)) or (env.std() or 1.0))


def gate_of(env: np.ndarray, med: float, scale: float, sfreq: float, z: float) -> np.ndarray:
    """The gate of an envelope whose median and scale are ``med`` and ``scale``."""
    from scipy.ndimage import binary_dilation

    active = (env - med) / scale > z
    active = binary_dilation(active, np.ones(2 * int(GATE_PAD * sfreq) + 1, bool))
    win = np.hanning(max(3, int(GATE_TAPER * sfreq)))
    return np.clip(np.convolve(active.astype(float), win / win.max(), mode="same"), 0.0, 1.0)


def gate(source: np.ndarray, sfreq: float, z: float) -> np.ndarray:
    """0-1 weights that are 1 where a component is active (targeted removal).

    The envelope (moving rms over :data:`GATE_SMOOTH` s) is active where its robust
    z-score (median/MAD) exceeds ``z``; active stretches are padded by :data:`GATE_PAD` s
    and their edges tapered over :data:`GATE_TAPER` s (a Hann window), so the removal
    starts and stops smoothly. (This is the whole-recording form; :class:`Remover`
    computes the same gate block by block.)
    """
    env = envelope(source, sfreq)
    return gate_of(env, *gate_scale(env), sfreq, z)


def gate_margin(sfreq: float) -> int:
    """Samples a block needs on each side for its gate to equal the whole recording's."""
    return (max(1, int(GATE_SMOOTH * sfreq)) // 2 + 1 + int(GATE_PAD * sfreq) + 1
            + max(3, int(GATE_TAPER * sfreq)) // 2 + 1)
