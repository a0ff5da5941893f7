"""Baselines on the same test split: band-pass filter, ICA with ICLabel, FCNN.

Band-pass
    4th-order Butterworth, zero phase (``sosfiltfilt``, mirror padding), per 2 s epoch, from
    1 Hz to a high
    edge chosen on the validation split (:func:`tune_bandpass`, the edge in
    :data:`BANDPASS_HIGHS` with the best mean CC over the 10 SNRs).
ICA with ICLabel
    Multichannel, so it is scored with the multichannel protocol
    (:meth:`neurodag.denoise.data.Benchmark.multichannel`: whole test recordings, one EMG
    scale per channel, fixed spatial mixing). The contaminated recording goes through
    :func:`neurodag.preprocess.run` with everything but ICA off (no notch, no band-pass, no
    bad-channel rejection) and average reference (which the clean EEG already has, so the
    target is unchanged): FastICA on a 1-100 Hz copy, ICLabel labels, components labelled
    "muscle artifact" with probability >= 0.7 removed everywhere (``ica.mode: full``; the
    other artifact classes are left, since blinks in the real clean EEG are part of the
    target here). Each channel-epoch is then scored like the single-channel methods.
FCNN
    EEGdenoiseNet's fully connected network (:class:`neurodag.denoise.model.FCNN`), trained
    by :func:`neurodag.denoise.training.train` with ``arch="fcnn"`` on the same training data
    and number of steps, MSE loss, AdamW (:data:`FCNN_OPTIONS`).
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from .. import schema
from . import data as _data
from . import evaluate as _evaluate

#: High edges (Hz) tried for the band-pass baseline.
BANDPASS_HIGHS = (15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0)
#: Training options of the FCNN baseline (on top of the model's budget).
FCNN_OPTIONS = {"arch": "fcnn", "model": {}, "lr": 5e-4, "weight_decay": 0.0,
                "adv_weight": 0.0, "ae_weight": 0.0, "score_weight": 0.0, "warmup": 100}
#: Options of :func:`neurodag.preprocess.run` for the ICA baseline.
ICA_OPTIONS = {
    "notch": False, "bandpass": [None, None], "reference": "average",
    "bads": {"flat_ratio": 0.0, "z_threshold": 1e9, "interpolate": False},
    "ica": {"enabled": True, "mode": "full", "eog": False, "ecg": False, "n_components": 20,
            "remove": ["muscle artifact"]},
}


def bandpass(y: np.ndarray, high: float, *, low: float = 1.0, sfreq: float = _data.SFREQ,
             order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass ``[low, high]`` Hz along the last axis.

    Epochs are padded by mirroring (up to their length) before filtering, which keeps the
    edge transients of a 2 s epoch small.
    """
    y = np.asarray(y, dtype=np.float64)
    sos = sps.butter(order, [low, high], "bandpass", fs=sfreq, output="sos")
    return sps.sosfiltfilt(sos, y, axis=-1, padtype="even",
                           padlen=min(y.shape[-1] - 1, int(3 * sfreq)))


def tune_bandpass(bench: _data.Benchmark, *, split: str = "val", highs=BANDPASS_HIGHS,
                  max_pairs: int = 1024, seed: int = 0) -> tuple[float, dict]:
    """The high edge with the best mean CC on ``split`` (over the 10 SNRs).

    Returns the edge and ``{edge: mean CC}``.
    """
    scores = {}
    for h in highs:
        res = _evaluate.single_channel(lambda y, h=h: bandpass(y, h), bench, split,
                                       max_pairs=max_pairs, rng=np.random.default_rng(seed))
        scores[float(h)] = float(np.mean(res["all"]["cc"]))
    best = max(scores, key=scores.get)
    return best, scores


def ica_iclabel(y: np.ndarray, recording: _data.Recording, *, random_state: int = 97,
                qc_out: list | None = None) -> np.ndarray:
    """ICA + ICLabel cleaning of a contaminated benchmark recording ``(time, channel)`` (V).

    :func:`ica_muscle` on the recording at the benchmark's rate, with its channel names
    and positions; returns the cleaned samples in the input's channel order.
    """
    ds = schema.build(y, sfreq=_data.SFREQ, channels=recording.channels, channel_types="eeg",
                      modality="eeg", positions=recording.positions,
                      source=f"benchmark:{recording.name}")
    return ica_muscle(ds, random_state=random_state, qc_out=qc_out, name=recording.name)


def ica_muscle(ds, *, random_state: int = 97, qc_out: list | None = None,
               name: str | None = None, reference: str = "average") -> np.ndarray:
    """ICA + ICLabel cleaning of a contract Dataset's EEG, at its own rate.

    Runs :func:`neurodag.preprocess.run` with :data:`ICA_OPTIONS` (components capped by
    the rank; ICLabel needs electrode positions; ``reference="none"`` keeps the input's
    reference, so that the output compares with a clean recording on the same one);
    returns the cleaned EEG ``(time, channel)`` in the input's EEG channel order. ``qc_out``, when given, receives the
    removed components' labels.
    """
    from .. import preprocess

    eeg = [str(c) for c, t in zip(ds["channel"].values, ds["channel_type"].values,
                                  strict=True) if t == "eeg"]
    opts = {**ICA_OPTIONS, "reference": reference,
            "ica": {**ICA_OPTIONS["ica"], "random_state": int(random_state)}}
    clean, qc = preprocess.run(ds, **opts)
    clean = clean.sel(channel=eeg)
    if qc_out is not None:
        comps = qc["ica"].get("components", [])
        qc_out.append({"recording": name or str(ds.attrs.get("source", "")),
                       "n_components": len(comps),
                       "removed": [c["label"] for c in comps if c.get("removed")]})
    return clean["signal"].transpose("time", "channel").values.astype(np.float64)
