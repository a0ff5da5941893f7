"""Synthetic scalp EEG: dipoles in a spherical head plus blinks, saccades, muscle, heart, mains.

``synth.eeg(seed=0)`` (or ``synth.generate("eeg", seed=0)``) returns a
:class:`~neurodag.synth.common.Simulation` whose ``data`` is the contract and whose
``truth`` holds

``brain`` (time, channel)
    The artifact-free brain signal (V): background, alpha and evoked dipoles through the
    forward model. Zero on EOG/ECG channels.
``artifacts`` (artifact, time, channel)
    The contribution (V) of each artifact: ``blink``, ``saccade``, ``muscle``, ``ecg``,
    ``line``.
``noise`` (time, channel)
    White sensor noise (V). ``data == brain + artifacts.sum("artifact") + noise``.
``artifact_pattern`` (artifact, channel)
    The spatial weight of each artifact (V per unit of its time course; muscle: the larger
    of the two sides; line: the amplitude of the fundamental).
``source_activity`` (time, source), ``source_gain`` (channel, source), ``source_position``
``source_orientation`` (source, xyz)
    The alpha and evoked dipoles (A*m), their gains and geometry (head coordinates, m).
``blink_onset``, ``blink_amplitude`` (blink); ``saccade_onset`` (saccade);
``muscle_onset``, ``muscle_offset``, ``muscle_side`` (burst); ``heartbeat`` (beat)
    Artifact times in s (blink amplitude in V at VEOG).
``events`` (event)
    The stimulus table, as in the contract (onset, ``event_duration``, ``event_label``).

and attrs ``line_freq``, ``alpha_freq``, ``heart_rate``, ``sfreq``.

Topographies are documented approximations: blinks decay exponentially (3.5 cm) with the
distance from the eyes, so Fp1/Fp2 are strongest; muscle bursts decay (3 cm) from the
temporalis muscles; the cardiac field leaks a few microvolts onto low, left channels. The
EEG reference is at infinity (sphere-model potentials).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import schema
from ..errors import InputError
from . import head, physio
from .common import (
    Simulation,
    callable_module,
    fraction,
    params_digest,
    positive,
    rngs,
    strings,
    subject_rhythms,
    truth_attrs,
)

MODALITY = "eeg"
ARTIFACTS = ("blink", "saccade", "muscle", "ecg", "line")

_EYES = np.array([[-0.032, 0.095, -0.005], [0.032, 0.095, -0.005]])
_CANTHI = np.array([[-0.045, 0.085, -0.005], [0.045, 0.085, -0.005]])
_TEMPORALIS = np.array([[-0.080, 0.025, 0.0], [0.080, 0.025, 0.0]])


def generate(*, seed: int = 0, subject: str = "01", session: str = "01",
             duration: float = 60.0, sfreq: float = 250.0, channels=None,
             eog: bool = True, ecg: bool = True, line_freq: float = 50.0,
             line_amplitude: float = 5e-6, blink_rate: float = 0.25,
             blink_amplitude: float = 150e-6, saccade_rate: float = 0.3,
             saccade_amplitude: float = 30e-6, muscle_rate: float = 0.1,
             muscle_amplitude: float = 20e-6, heart_rate: float | None = None,
             ecg_amplitude: float = 1e-3, ecg_leak: float = 2e-6,
             alpha_freq: float | None = None, alpha_amplitude: float = 60e-9,
             background_amplitude: float = 30e-9, n_background: int = 64,
             evoked_amplitude: float = 80e-9, labels=("standard", "target"),
             p_target: float = 0.2, noise_amplitude: float = 1e-6) -> Simulation:
    """Simulate an EEG recording with known brain signal and artifacts.

    Parameters
    ----------
    seed : int
        Seed (see :mod:`neurodag.synth.common` for how subject and session enter).
    subject, session : str
        Identifiers written to the contract; they also select the random streams.
    duration : float
        Length in s.
    sfreq : float
        Sampling rate in Hz.
    channels : list of str, optional
        EEG electrodes from the standard 10-20 montage; default :data:`head.EEG_32`.
    eog, ecg : bool
        Add ``VEOG``/``HEOG`` and ``ECG`` channels.
    line_freq, line_amplitude : float
        Mains frequency (Hz) and typical peak amplitude (V; per-channel lognormal spread).
    blink_rate, blink_amplitude : float
        Blinks per second and peak amplitude at VEOG (V); Fp1/Fp2 see 70 % of it.
    saccade_rate, saccade_amplitude : float
        Horizontal gaze changes per second and gaze sd at HEOG (V).
    muscle_rate, muscle_amplitude : float
        Muscle bursts per second (0.5-2 s each, left, right or both) and rms (V) at the
        channel nearest the muscle.
    heart_rate : float, optional
        Beats per minute; drawn in 60-80 per subject when omitted.
    ecg_amplitude, ecg_leak : float
        R-peak amplitude on the ECG channel and its largest leak onto EEG (V).
    alpha_freq : float, optional
        Alpha peak in Hz; drawn in 9-11.5 per subject when omitted.
    alpha_amplitude, background_amplitude, evoked_amplitude : float
        Dipole moments (A*m): rms of each alpha and background source, P3 peak.
    n_background : int
        Number of background dipoles.
    labels : pair of str
        Event labels of frequent and rare stimuli.
    p_target : float
        Probability of the rare stimulus.
    noise_amplitude : float
        rms of white sensor noise (V).

    Returns
    -------
    Simulation
        See the module docstring for ``truth``.
    """
    params = dict(locals())
    m = MODALITY
    duration = positive(m, "duration", duration)
    sfreq = positive(m, "sfreq", sfreq)
    line_freq = positive(m, "line_freq", line_freq)
    p_target = fraction(m, "p_target", p_target)
    n_background = positive(m, "n_background", n_background, integer=True)
    for name in ("line_amplitude", "blink_rate", "blink_amplitude", "saccade_rate",
                 "saccade_amplitude", "muscle_rate", "muscle_amplitude", "ecg_amplitude",
                 "ecg_leak", "alpha_amplitude", "background_amplitude", "evoked_amplitude",
                 "noise_amplitude"):
        positive(m, name, params[name], minimum=0)
    rng_subject, rng_session = rngs(m, seed, subject, session)
    heart_rate, alpha_freq = subject_rhythms(m, labels, rng_subject, heart_rate, alpha_freq)
    known = head.montage_positions()
    channels = list(head.EEG_32 if channels is None else channels)
    for name in channels:
        if name not in known:
            raise InputError(f"synth.eeg: channel {name!r} is not in the {head.montage_name()} "
                             "montage")
    aux = ({"VEOG": "eog", "HEOG": "eog"} if eog else {}) | ({"ECG": "ecg"} if ecg else {})

    n_times = int(round(duration * sfreq))
    if n_times < 2 * sfreq:
        raise InputError(f"synth.eeg: duration must be at least 2 s, got {duration}")
    times = np.arange(n_times) / sfreq
    info = head.eeg_info(channels, sfreq, aux)
    info["line_freq"] = line_freq
    sphere = head.eeg_sphere()
    r0, radius = np.asarray(sphere["r0"]), float(sphere.radius)

    events = physio.oddball_events(rng_session, duration, labels=tuple(labels), p_target=p_target)
    sources = head.brain_sources(
        rng_subject, rng_session, n_times, sfreq, events, r0=r0, radius=radius,
        labels=labels, alpha_freq=alpha_freq, alpha_amplitude=alpha_amplitude,
        n_background=n_background, background_amplitude=background_amplitude,
        evoked_amplitude=evoked_amplitude)
    gain = head.fixed_gain(info, sources, sphere, meg=False, eeg=True)
    brain = sources.activity @ gain.T

    names = list(info["ch_names"])
    pos = np.array([ch["loc"][:3] for ch in info["chs"]])
    is_eeg = np.array([t == "eeg" for t in info.get_channel_types()])
    art, extra = _artifacts(rng_session, names, pos, is_eeg, times, params | dict(
        heart_rate=heart_rate, line_freq=line_freq))
    noise_sd = np.where(is_eeg, noise_amplitude, 2.0 * noise_amplitude)
    noise_sd[[i for i, n in enumerate(names) if n == "ECG"]] = 10.0 * noise_amplitude
    noise = rng_session.standard_normal((n_times, len(names))) * noise_sd
    data = brain + art.sum(axis=0) + noise

    positions = np.where(is_eeg[:, None], pos, np.nan)
    ds = schema.build(
        data, sfreq=sfreq, channels=names, channel_types=info.get_channel_types(),
        modality=m, subject=subject, session=session, positions=positions, events=events,
        source=f"synthetic:{m}", source_sha256=params_digest(m, params),
        attrs={"line_freq": line_freq},
    )
    named = [i for i, k in enumerate(sources.kind) if k != "background"]
    truth = xr.Dataset(
        {
            "brain": (("time", "channel"), brain, {"units": "V"}),
            "artifacts": (("artifact", "time", "channel"), art, {"units": "V"}),
            "noise": (("time", "channel"), noise, {"units": "V"}),
            "artifact_pattern": (("artifact", "channel"), extra.pop("pattern")),
            "source_activity": (("time", "source"), sources.activity[:, named], {"units": "A*m"}),
            "source_gain": (("channel", "source"), gain[:, named]),
            "source_position": (("source", "xyz"), sources.rr[named], {"units": "m"}),
            "source_orientation": (("source", "xyz"), sources.nn[named]),
            **extra,
        },
        coords={"time": ("time", times, {"units": "s"}), "channel": strings(names),
                "channel_type": ("channel", strings(info.get_channel_types())),
                "artifact": strings(ARTIFACTS),
                "source": strings([sources.names[i] for i in named]),
                "xyz": strings("xyz")},
        attrs=truth_attrs(m, params, line_freq=line_freq, alpha_freq=alpha_freq,
                          heart_rate=heart_rate, sfreq=sfreq),
    )
    truth = schema.set_events(truth, events)
    return Simulation(modality=m, data=ds, truth=truth, params=params, native={"info": info})


def _decay(pos: np.ndarray, points: np.ndarray, length: float) -> np.ndarray:
    """exp(-(d - d_min)/length), d the distance to the nearest of ``points`` and d_min the
    smallest such distance over the whole montage (1 at the electrode nearest the source)."""
    def dist(p):
        return np.linalg.norm(p[:, None, :] - points[None], axis=2).min(axis=1)

    d_min = dist(np.array(list(head.montage_positions().values()))).min()
    return np.exp(-(dist(pos) - d_min) / length)


def _artifacts(rng, names, pos, is_eeg, times, p) -> tuple[np.ndarray, dict]:
    """(artifact, time, channel) contributions and their truth variables."""
    n_times, n_ch = times.size, len(names)
    sfreq = 1.0 / (times[1] - times[0])
    idx = {n: i for i, n in enumerate(names)}
    eeg_pos = np.where(is_eeg[:, None], pos, np.nan)
    pattern = np.zeros((len(ARTIFACTS), n_ch))
    art = np.zeros((len(ARTIFACTS), n_times, n_ch))

    blink, blink_on, blink_amp = physio.blink_train(rng, n_times, sfreq, p["blink_rate"], 1.0)
    w = np.where(is_eeg, 0.7 * _decay(eeg_pos, _EYES, 0.035), 0.0)
    if "VEOG" in idx:
        w[idx["VEOG"]], w[idx["HEOG"]] = 1.0, rng.choice([-1, 1]) * 0.05
    pattern[0] = w * p["blink_amplitude"]

    sacc, sacc_on = physio.saccade_train(rng, n_times, sfreq, p["saccade_rate"], 1.0)
    side = np.sign(np.nan_to_num(pos[:, 0]))
    w = np.where(is_eeg, 0.3 * side * _decay(eeg_pos, _CANTHI, 0.035), 0.0)
    if "HEOG" in idx:
        w[idx["HEOG"]], w[idx["VEOG"]] = 1.0, rng.choice([-1, 1]) * 0.05
    pattern[1] = w * p["saccade_amplitude"]

    bursts = physio.muscle_bursts(rng, n_times, sfreq, p["muscle_rate"])
    emg = physio.emg_noise(rng, n_times, sfreq, n_ch)
    all_pos = np.array(list(head.montage_positions().values()))
    muscle = np.zeros((n_times, n_ch))
    for k, side in enumerate(("left", "right")):
        d_all = np.linalg.norm(all_pos - _TEMPORALIS[k], axis=1)
        d = np.linalg.norm(pos - _TEMPORALIS[k], axis=1)
        w = np.where(is_eeg, np.exp(-(np.nan_to_num(d, nan=1.0) - d_all.min()) / 0.03), 0.0)
        env = physio.burst_envelope(bursts, side, n_times, sfreq)
        muscle += env[:, None] * emg * w * p["muscle_amplitude"]
        pattern[2] = np.maximum(pattern[2], w * p["muscle_amplitude"])

    heart, beats = physio.heartbeat_train(rng, n_times, sfreq, p["heart_rate"])
    toward_heart = head.unit([-0.3, 0.0, -1.0])
    lean = np.where(is_eeg, np.nan_to_num(pos @ toward_heart), 0.0)
    lean = (lean - lean[is_eeg].min()) if is_eeg.any() else lean
    w = np.where(is_eeg, lean / max(lean.max(), 1e-12), 0.0) * p["ecg_leak"]
    if "ECG" in idx:
        w[idx["ECG"]] = p["ecg_amplitude"]
    pattern[3] = w

    line_amp = p["line_amplitude"] * rng.lognormal(0.0, 0.35, n_ch)
    pattern[4] = line_amp

    art[0] = blink[:, None] * pattern[0]
    art[1] = sacc[:, None] * pattern[1]
    art[2] = muscle
    art[3] = heart[:, None] * pattern[3]
    art[4] = physio.line_noise(rng, times, p["line_freq"], line_amp)
    extra = {
        "pattern": pattern,
        "blink_onset": ("blink", blink_on, {"units": "s"}),
        "blink_amplitude": ("blink", blink_amp * p["blink_amplitude"], {"units": "V"}),
        "saccade_onset": ("saccade", sacc_on, {"units": "s"}),
        "muscle_onset": ("burst", bursts["onset"].to_numpy(float), {"units": "s"}),
        "muscle_offset": ("burst", bursts["offset"].to_numpy(float), {"units": "s"}),
        "muscle_side": ("burst", strings(bursts["side"])),
        "heartbeat": ("beat", beats, {"units": "s"}),
    }
    return art, extra


callable_module(__name__)
