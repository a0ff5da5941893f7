"""Synthetic whole-brain calcium imaging of C. elegans.

Each recording (session) is a different worm: it images a random subset of the 300
canonical neurons (:func:`canonical_neurons`, cect's preferred names) plus a few
unidentified ROIs (``ROI0012``), at its own frame rate. Behaviour switches between
``forward``, ``reverse`` and ``turn`` (a semi-Markov chain with gamma dwell times);
smoothed state indicators and a slow arousal drift form the latent dynamics. Known
command neurons load on their state (AVA, AVE, AVD, AIB, RIM, VA, DA, AS on reverse;
AVB, RIB, RID, VB, DB on forward; SMDV, SMDD, RIV, SMB on turns); the others get random
loadings. Activity is a softplus of the loadings times the latents plus intrinsic
noise; GCaMP fluorescence is activity convolved with a difference-of-exponentials
kernel (rise ``tau_rise``, decay ``tau_decay``), on a photobleaching baseline, plus shot
and read noise.

Values are raw fluorescence in a.u. (``output="raw"``, default: baseline F0 of 200-2000
that bleaches) or the true dF/F plus noise (``output="dff"``, units ``dF/F``). All
channels have channel_type ``neuron``. ``truth`` holds

``state`` (time)
    Behavioural state at each frame; ``state_names`` attr lists them.
``latents`` (time, latent)
    The latent dynamics driving the neurons.
``activity`` (time, channel)
    Underlying activity per neuron (before the calcium kernel).
``dff`` (time, channel)
    Noise-free dF/F. ``baseline`` (time, channel): F0 x bleaching (raw output).
``loadings`` (channel, latent); ``labelled`` (channel): identified neuron or ROI.
``present`` (neuron)
    Over all 300 canonical neurons: recorded in this worm.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import numpy as np
import xarray as xr
from scipy import ndimage
from scipy.signal import fftconvolve

from .. import schema
from ..errors import InputError
from .common import (
    Simulation,
    callable_module,
    choice,
    indicator_kernel,
    ou_noise,
    params_digest,
    positive,
    rngs,
    strings,
    truth_attrs,
)

MODALITY = "calcium"
STATES = ("forward", "reverse", "turn")
LATENTS = ("forward", "reverse", "turn", "arousal")
#: Name prefixes of neurons that follow a state (index into :data:`STATES`).
COMMAND_CLASSES = {
    0: ("AVB", "RIB", "RID", "VB", "DB"),
    1: ("AVA", "AVE", "AVD", "AIB", "RIM", "VA", "DA", "AS"),
    2: ("SMDV", "SMDD", "RIV", "SMB"),
}
_DWELL = {0: (4.0, 6.0), 1: (3.0, 2.0), 2: (3.0, 1.2)}        # gamma (shape, scale) in s
_NEXT = {0: ((1, 2), (0.8, 0.2)), 1: ((2, 0), (0.6, 0.4)), 2: ((0,), (1.0,))}
_DT = 0.05                                                     # fine time step (s)


@lru_cache(maxsize=1)
def canonical_neurons() -> tuple[str, ...]:
    """The 300 canonical hermaphrodite neuron names shipped with neurodag."""
    text = resources.files("neurodag").joinpath("data/celegans_neurons.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def generate(*, seed: int = 0, subject: str = "01", session: str = "01",
             duration: float = 420.0, sfreq: float | None = None,
             n_neurons: int | None = None, n_rois: int | None = None,
             tau_rise: float = 0.2, tau_decay: float = 1.0, output: str = "raw",
             noise_level: float = 0.05, bleach: bool = True) -> Simulation:
    """Simulate one worm's calcium traces with known states and activity.

    Parameters
    ----------
    seed, subject, session : see :func:`neurodag.synth.eeg.generate`. The worm (neuron
        subset, frame rate) changes with the session.
    duration : float
        Length in s (the default gives at least 600 frames).
    sfreq : float, optional
        Frame rate in Hz; drawn in 1.5-6 Hz per recording when omitted.
    n_neurons, n_rois : int, optional
        Identified neurons (default drawn in 40-120) and unidentified ROIs (2-8).
    tau_rise, tau_decay : float
        GCaMP kernel time constants (s).
    output : {"raw", "dff"}
        Raw fluorescence (a.u.) or dF/F.
    noise_level : float
        Noise sd relative to a neuron's baseline (raw) or in dF/F units.
    bleach : bool
        Apply photobleaching to the baseline (raw output).
    """
    params = dict(locals())
    m = MODALITY
    duration = positive(m, "duration", duration)
    tau_rise = positive(m, "tau_rise", tau_rise)
    tau_decay = positive(m, "tau_decay", tau_decay)
    noise_level = positive(m, "noise_level", noise_level, minimum=0)
    choice(m, "output", output, ("raw", "dff"))
    if tau_rise >= tau_decay:
        raise InputError(
            f"synth.calcium: tau_rise ({tau_rise}) must be below tau_decay ({tau_decay})")
    rng_subject, rng_session = rngs(m, seed, subject, session)
    sfreq = (positive(m, "sfreq", sfreq) if sfreq is not None
             else round(float(rng_session.uniform(1.5, 6.0)), 3))
    canon = canonical_neurons()
    n_neurons = (positive(m, "n_neurons", n_neurons, integer=True, minimum=1)
                 if n_neurons is not None else int(rng_session.integers(40, 121)))
    if n_neurons > len(canon):
        raise InputError(f"synth.calcium: n_neurons must be at most {len(canon)}, got {n_neurons}")
    n_rois = (positive(m, "n_rois", n_rois, integer=True, minimum=0)
              if n_rois is not None else int(rng_session.integers(2, 9)))
    n_frames = int(round(duration * sfreq))
    if n_frames < 10:
        raise InputError(f"synth.calcium: {duration} s at {sfreq} Hz gives fewer than 10 frames")

    present = np.zeros(len(canon), bool)
    present[rng_session.choice(len(canon), n_neurons, replace=False)] = True
    neurons = [n for n, p in zip(canon, present, strict=True) if p]
    roi_ids = np.sort(rng_session.choice(10_000, n_rois, replace=False))
    names = neurons + [f"ROI{i:04d}" for i in roi_ids]
    n_ch = len(names)

    n_fine = int(np.ceil(duration / _DT)) + 1
    state_fine = _states(rng_session, n_fine)
    latent_fine = _latents(rng_session, state_fine)
    loadings, bias = _loadings(rng_subject, rng_session, present, n_rois)
    drive = latent_fine @ loadings.T + bias
    drive += _ou(rng_session, n_fine, n_ch, tau=2.0) * 0.4
    activity_fine = np.logaddexp(0.0, 3.0 * drive) / 3.0         # softplus, sharpened
    kernel = indicator_kernel(_DT, tau_rise, tau_decay)   # steady a gives dF/F a (x gain)
    calcium_fine = fftconvolve(activity_fine, kernel[:, None], axes=0)[:n_fine]

    times = np.arange(n_frames) / sfreq
    idx = np.minimum(np.round(times / _DT).astype(int), n_fine - 1)
    gain = rng_subject.uniform(0.3, 1.5, n_ch)
    dff = calcium_fine[idx] * gain
    activity = activity_fine[idx]
    state = state_fine[idx]
    latent = latent_fine[idx]

    if output == "raw":
        f0 = np.exp(rng_session.uniform(np.log(200), np.log(2000), n_ch))
        tau_bleach = rng_session.uniform(600, 2000, n_ch)
        baseline = f0 * (np.exp(-times[:, None] / tau_bleach) if bleach else 1.0)
        clean = baseline * (1.0 + dff)
        shot = np.sqrt(clean / f0) * noise_level * f0
        signal = clean + shot * rng_session.standard_normal(clean.shape)
        units = "a.u."
    else:
        baseline = np.ones((n_frames, n_ch))
        signal = dff + noise_level * rng_session.standard_normal(dff.shape)
        units = "dF/F"

    ds = schema.build(
        signal, sfreq=sfreq, channels=names, channel_types="neuron", units=units,
        modality=m, subject=subject, session=session,
        source=f"synthetic:{m}", source_sha256=params_digest(m, params),
    )
    truth = xr.Dataset(
        {
            "state": ("time", strings(np.asarray(STATES)[state])),
            "latents": (("time", "latent"), latent),
            "activity": (("time", "channel"), activity),
            "dff": (("time", "channel"), dff, {"units": "dF/F"}),
            "baseline": (("time", "channel"), np.broadcast_to(baseline, dff.shape).copy()),
            "loadings": (("channel", "latent"), loadings),
            "labelled": ("channel", np.arange(n_ch) < n_neurons),
            "present": ("neuron", present),
        },
        coords={"time": ("time", times, {"units": "s"}), "channel": strings(names),
                "latent": strings(LATENTS), "neuron": strings(canon)},
        attrs=truth_attrs(m, params, sfreq=sfreq, state_names=list(STATES), output=output,
                          tau_rise=tau_rise, tau_decay=tau_decay),
    )
    return Simulation(modality=m, data=ds, truth=truth, params=params)


def _states(rng, n_fine) -> np.ndarray:
    """Semi-Markov behavioural states on the fine grid (indices into :data:`STATES`)."""
    out = np.empty(n_fine, int)
    i, s = 0, 0
    while i < n_fine:
        shape, scale = _DWELL[s]
        length = max(1, int(rng.gamma(shape, scale) / _DT))
        out[i:i + length] = s
        i += length
        nxt, p = _NEXT[s]
        s = int(rng.choice(nxt, p=p))
    return out


def _latents(rng, states) -> np.ndarray:
    """(n_fine, 4): exponentially smoothed state indicators and a slow arousal drift."""
    onehot = np.eye(len(STATES))[states]
    smooth = np.stack([ndimage.gaussian_filter1d(onehot[:, k], s / _DT)
                       for k, s in enumerate((1.5, 0.7, 0.5))], axis=1)
    arousal = _ou(rng, len(states), 1, tau=60.0)
    return np.hstack([smooth, arousal])


def _ou(rng, n, k, tau) -> np.ndarray:
    """Unit-variance Ornstein-Uhlenbeck noise with time constant ``tau`` (s)."""
    return ou_noise(rng, n, k, tau, _DT)


def command_state(name: str) -> int | None:
    """Index of the state a neuron follows (:data:`COMMAND_CLASSES`), else None."""
    for state, classes in COMMAND_CLASSES.items():
        if any(re.fullmatch(rf"{c}([DV]?[LR]?|\d+)", name) for c in classes):
            return state
    return None


def _random_loadings(rng, n) -> tuple[np.ndarray, np.ndarray]:
    w = rng.normal(0.0, 0.6, (n, len(LATENTS)))
    w[:, 3] = rng.normal(0.0, 0.5, n)
    return w, rng.normal(-0.5, 0.3, n)


def _loadings(rng_subject, rng_session, present, n_rois) -> tuple[np.ndarray, np.ndarray]:
    """Loadings (channel, latent) and biases: identified neurons keep theirs across sessions
    of a subject (command neurons on their state, others random); ROIs are new each time."""
    canon = canonical_neurons()
    w, bias = _random_loadings(rng_subject, len(canon))
    strength = rng_subject.uniform(1.5, 2.5, len(canon))
    for i, name in enumerate(canon):
        state = command_state(name)
        if state is not None:
            w[i, :3] = -0.3
            w[i, state] = strength[i]
    w_roi, bias_roi = _random_loadings(rng_session, n_rois)
    return np.vstack([w[present], w_roi]), np.concatenate([bias[present], bias_roi])


callable_module(__name__)
