"""Synthetic MEG: magnetometers and planar gradiometers over a spherical head.

Sensors are Neuromag-like triplets (see :func:`neurodag.synth.head.meg_info`) whose
geometry and coil types travel in the ``mne.Info`` (``sim.native["info"]``) and the FIF
file, so that MNE can compute forwards on them. Brain activity is the same dipole model
as the EEG generator, projected with an MNE sphere-model forward. ``truth`` holds

``brain`` (time, channel)
    Artifact-free brain field (T on magnetometers, T/m on gradiometers, 0 on EOG/ECG).
``artifacts`` (artifact, time, channel)
    ``blink``, ``saccade`` and ``ecg`` (fields of current dipoles at the eyes and the
    heart, Biot-Savart, see :func:`neurodag.synth.head.extracranial_field`; plus their
    EOG/ECG channel traces in V) and ``line`` (mains).
``noise`` (time, channel)
    White sensor noise. ``data == brain + artifacts.sum("artifact") + noise``.
``artifact_pattern`` (artifact, channel)
    Spatial pattern per unit time course (line: amplitude of the fundamental).
``source_activity``, ``source_gain``, ``source_position``, ``source_orientation``
    The alpha and evoked dipoles, as in :mod:`neurodag.synth.eeg`.
``blink_onset`` (blink), ``saccade_onset`` (saccade), ``heartbeat`` (beat), ``events``.
"""

from __future__ import annotations

import mne
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

MODALITY = "meg"
ARTIFACTS = ("blink", "saccade", "ecg", "line")
#: Scale from a magnetometer amplitude (T) to a gradiometer one (T/m) for noise and mains.
GRAD_PER_MAG = 25.0

_EYES = np.array([[-0.032, 0.080, -0.010], [0.032, 0.080, -0.010]])
_HEART = np.array([0.02, -0.03, -0.30])


def generate(*, seed: int = 0, subject: str = "01", session: str = "01",
             duration: float = 30.0, sfreq: float = 250.0, n_locations: int = 60,
             eog: bool = True, ecg: bool = True, line_freq: float = 50.0,
             line_amplitude: float = 100e-15, blink_rate: float = 0.25,
             blink_field: float = 1.5e-12, blink_amplitude: float = 150e-6,
             saccade_rate: float = 0.3, saccade_amplitude: float = 30e-6,
             heart_rate: float | None = None, heart_field: float = 1e-12,
             ecg_amplitude: float = 1e-3, alpha_freq: float | None = None,
             alpha_amplitude: float = 60e-9, background_amplitude: float = 30e-9,
             n_background: int = 64, evoked_amplitude: float = 80e-9,
             labels=("standard", "target"), p_target: float = 0.2,
             noise_amplitude: float = 20e-15) -> Simulation:
    """Simulate an MEG recording with known brain field, eye and heart artifacts.

    Parameters
    ----------
    seed, subject, session : see :func:`neurodag.synth.eeg.generate`.
    duration, sfreq : float
        Length (s) and sampling rate (Hz).
    n_locations : int
        Sensor locations; each has one magnetometer and two gradiometers.
    eog, ecg : bool
        Add ``VEOG``/``HEOG`` and ``ECG`` channels (V).
    line_freq, line_amplitude : float
        Mains frequency (Hz) and typical amplitude on magnetometers (T); gradiometers get
        :data:`GRAD_PER_MAG` times it in T/m.
    blink_rate, blink_field, blink_amplitude : float
        Blinks per second, peak field at the strongest magnetometer (T), peak at VEOG (V).
    saccade_rate, saccade_amplitude : float
        Gaze changes per second and gaze sd at HEOG (V); the MEG field scales with it.
    heart_rate : float, optional
        Beats per minute; drawn in 60-80 per subject when omitted.
    heart_field, ecg_amplitude : float
        R-peak field at the strongest magnetometer (T) and on the ECG channel (V).
    alpha_freq, alpha_amplitude, background_amplitude, n_background, evoked_amplitude,
    labels, p_target : see :func:`neurodag.synth.eeg.generate`.
    noise_amplitude : float
        rms white noise on magnetometers (T); gradiometers get :data:`GRAD_PER_MAG` times it.

    Returns
    -------
    Simulation
    """
    params = dict(locals())
    m = MODALITY
    duration = positive(m, "duration", duration)
    sfreq = positive(m, "sfreq", sfreq)
    line_freq = positive(m, "line_freq", line_freq)
    n_locations = positive(m, "n_locations", n_locations, integer=True)
    n_background = positive(m, "n_background", n_background, integer=True)
    p_target = fraction(m, "p_target", p_target)
    for name in ("line_amplitude", "blink_rate", "blink_field", "blink_amplitude",
                 "saccade_rate", "saccade_amplitude", "heart_field", "ecg_amplitude",
                 "alpha_amplitude", "background_amplitude", "evoked_amplitude",
                 "noise_amplitude"):
        positive(m, name, params[name], minimum=0)
    rng_subject, rng_session = rngs(m, seed, subject, session)
    heart_rate, alpha_freq = subject_rhythms(m, labels, rng_subject, heart_rate, alpha_freq)
    n_times = int(round(duration * sfreq))
    if n_times < 2 * sfreq:
        raise InputError(f"synth.meg: duration must be at least 2 s, got {duration}")
    times = np.arange(n_times) / sfreq

    aux = ({"VEOG": "eog", "HEOG": "eog"} if eog else {}) | ({"ECG": "ecg"} if ecg else {})
    info = head.meg_info(n_locations, sfreq, aux)
    info["line_freq"] = line_freq
    sphere = mne.make_sphere_model(r0=tuple(head.MEG_ORIGIN), head_radius=None, verbose="error")
    events = physio.oddball_events(rng_session, duration, labels=tuple(labels), p_target=p_target)
    sources = head.brain_sources(
        rng_subject, rng_session, n_times, sfreq, events, r0=head.MEG_ORIGIN, radius=0.09,
        labels=labels, alpha_freq=alpha_freq, alpha_amplitude=alpha_amplitude,
        n_background=n_background, background_amplitude=background_amplitude,
        evoked_amplitude=evoked_amplitude)
    gain = head.fixed_gain(info, sources, sphere, meg=True, eeg=False)
    brain = sources.activity @ gain.T

    names, kinds = list(info["ch_names"]), np.array(info.get_channel_types())
    scale = np.select([kinds == "mag", kinds == "grad"], [1.0, GRAD_PER_MAG], 0.0)
    idx = {n: i for i, n in enumerate(names)}
    pattern = np.zeros((len(ARTIFACTS), len(names)))

    blink, blink_on, blink_amp = physio.blink_train(rng_session, n_times, sfreq, blink_rate, 1.0)
    pattern[0] = _field_pattern(info, _EYES, [0.0, 0.0, 1.0], blink_field)
    sacc, sacc_on = physio.saccade_train(rng_session, n_times, sfreq, saccade_rate, 1.0)
    pattern[1] = _field_pattern(info, _EYES, [1.0, 0.0, 0.0], blink_field / 5.0)
    heart, beats = physio.heartbeat_train(rng_session, n_times, sfreq, heart_rate)
    moment = head.unit([0.3, -0.2, -0.9] + rng_subject.normal(0, 0.1, 3))
    pattern[2] = _field_pattern(info, _HEART[None], moment, heart_field)
    if eog:
        sign = rng_session.choice([-1.0, 1.0], 2)
        pattern[0, idx["VEOG"]], pattern[0, idx["HEOG"]] = blink_amplitude, 0.05 * sign[0] * (
            blink_amplitude)
        pattern[1, idx["HEOG"]], pattern[1, idx["VEOG"]] = saccade_amplitude, 0.05 * sign[1] * (
            saccade_amplitude)
    if ecg:
        pattern[2, idx["ECG"]] = ecg_amplitude
    aux_scale = np.where(scale > 0, scale, 0.0)
    line_amp = line_amplitude * aux_scale * rng_session.lognormal(0.0, 0.5, len(names))
    line_amp[scale == 0] = 5e-6 * rng_session.lognormal(0.0, 0.5, int((scale == 0).sum()))
    pattern[3] = line_amp

    art = np.stack([blink[:, None] * pattern[0], sacc[:, None] * pattern[1],
                    heart[:, None] * pattern[2],
                    physio.line_noise(rng_session, times, line_freq, line_amp)])
    noise_sd = np.where(scale > 0, noise_amplitude * scale, 2e-6)
    noise = rng_session.standard_normal((n_times, len(names))) * noise_sd
    data = brain + art.sum(axis=0) + noise

    locs = np.array([ch["loc"][:3] for ch in info["chs"]])
    positions = np.where((scale > 0)[:, None], locs, np.nan)
    ds = schema.build(
        data, sfreq=sfreq, channels=names, channel_types=kinds.tolist(), modality=m,
        subject=subject, session=session, positions=positions, events=events,
        source=f"synthetic:{m}", source_sha256=params_digest(m, params),
        attrs={"line_freq": line_freq},
    )
    units = strings(ds["unit"].values)
    named = [i for i, k in enumerate(sources.kind) if k != "background"]
    truth = xr.Dataset(
        {
            "brain": (("time", "channel"), brain),
            "artifacts": (("artifact", "time", "channel"), art),
            "noise": (("time", "channel"), noise),
            "artifact_pattern": (("artifact", "channel"), pattern),
            "source_activity": (("time", "source"), sources.activity[:, named], {"units": "A*m"}),
            "source_gain": (("channel", "source"), gain[:, named]),
            "source_position": (("source", "xyz"), sources.rr[named], {"units": "m"}),
            "source_orientation": (("source", "xyz"), sources.nn[named]),
            "blink_onset": ("blink", blink_on, {"units": "s"}),
            "blink_amplitude": ("blink", blink_amp * blink_amplitude, {"units": "V"}),
            "saccade_onset": ("saccade", sacc_on, {"units": "s"}),
            "heartbeat": ("beat", beats, {"units": "s"}),
        },
        coords={"time": ("time", times, {"units": "s"}), "channel": strings(names),
                "channel_type": ("channel", strings(kinds)), "unit": ("channel", units),
                "artifact": strings(ARTIFACTS),
                "source": strings([sources.names[i] for i in named]),
                "xyz": strings("xyz")},
        attrs=truth_attrs(m, params, line_freq=line_freq, alpha_freq=alpha_freq,
                          heart_rate=heart_rate, sfreq=sfreq),
    )
    truth = schema.set_events(truth, events)
    return Simulation(modality=m, data=ds, truth=truth, params=params, native={"info": info})


def _field_pattern(info, positions, moment, peak: float) -> np.ndarray:
    """Field of unit dipoles at ``positions``, scaled to ``peak`` at the strongest magnetometer."""
    field = sum(head.extracranial_field(info, p, moment) for p in positions)
    mags = np.array(info.get_channel_types()) == "mag"
    top = np.abs(field[mags]).max()
    return field * (peak / top) if top > 0 else field


callable_module(__name__)
