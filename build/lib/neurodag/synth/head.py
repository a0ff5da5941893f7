"""Sensors and a spherical head for EEG and MEG: montage, MEG helmet, sources, forward.

Brain activity is made physically: current dipoles inside a spherical head, projected to
the sensors with an MNE forward model (:func:`mne.make_sphere_model`,
:func:`mne.setup_volume_source_space` with ``pos=dict(rr=..., nn=...)`` and
:func:`mne.make_forward_solution`), all offline and well under a second. Sources outside
the head (eyes, heart) are not covered by a sphere model; their MEG fields are the
primary-current field of a dipole in an infinite medium (Biot-Savart), see
:func:`extracranial_field`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache

import mne
import numpy as np
import pandas as pd

from .common import band_noise, colored_noise, place

#: The 32-channel 10-20 layout (actiCAP-like) used by default.
EEG_32 = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "FC5", "FC1", "FC2", "FC6", "T7", "C3", "Cz",
    "C4", "T8", "TP9", "CP5", "CP1", "CP2", "CP6", "TP10", "P7", "P3", "Pz", "P4", "P8", "PO9",
    "O1", "Oz", "O2", "PO10",
)

#: Centre of the MEG head sphere and the radius of the sensor cap (head coordinates, m).
MEG_ORIGIN = np.array([0.0, 0.0, 0.04])
MEG_HELMET_RADIUS = 0.12
#: Neuromag planar gradiometer baseline (m), used for the fields of extracranial sources.
GRAD_BASELINE = 0.0168
_MU0_4PI = 1e-7


def unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def montage_name() -> str:
    """``colin27_1020`` where MNE has it (1.13+), else ``standard_1020``."""
    names = mne.channels.get_builtin_montages()
    return "colin27_1020" if "colin27_1020" in names else "standard_1020"


@lru_cache(maxsize=1)
def _montage_positions() -> tuple[tuple[str, ...], np.ndarray]:
    montage = mne.channels.make_standard_montage(montage_name())
    info = mne.create_info(montage.ch_names, 100.0, "eeg")
    info.set_montage(montage)
    return tuple(montage.ch_names), np.array([ch["loc"][:3] for ch in info["chs"]])


def montage_positions() -> dict[str, np.ndarray]:
    """Head-coordinate positions (m) of every electrode of :func:`montage_name`."""
    names, pos = _montage_positions()
    return dict(zip(names, pos, strict=True))


@lru_cache(maxsize=1)
def _eeg_sphere():
    names, _ = _montage_positions()
    info = mne.create_info(list(names), 100.0, "eeg")
    info.set_montage(mne.channels.make_standard_montage(montage_name()))
    return mne.make_sphere_model(r0="auto", head_radius="auto", info=info, verbose="error")


def eeg_sphere():
    """Three-shell sphere model fitted to all electrodes of the standard montage."""
    return copy.deepcopy(_eeg_sphere())


def eeg_info(channels, sfreq: float, aux: dict[str, str]) -> mne.Info:
    """Info for EEG ``channels`` (positions from the standard montage) plus ``aux`` name->type."""
    names = [*channels, *aux]
    info = mne.create_info(names, sfreq, ["eeg"] * len(channels) + list(aux.values()))
    montage = mne.channels.make_standard_montage(montage_name())
    info.set_montage(montage, on_missing="raise")
    return info


def meg_info(n_locations: int, sfreq: float, aux: dict[str, str]) -> mne.Info:
    """Neuromag-like sensors: at each cap location one magnetometer and two planar gradiometers.

    Locations are spread evenly (Fibonacci lattice) over a sphere of radius
    :data:`MEG_HELMET_RADIUS` around :data:`MEG_ORIGIN`, leaving the face open. Names
    follow Neuromag (``MEG0011`` magnetometer, ``MEG0012``/``MEG0013`` gradiometers with
    orthogonal baselines); coil types are ``VV_MAG_T3`` and ``VV_PLANAR_T1`` so MNE
    computes forwards with its own coil definitions. Device and head frames coincide.
    """
    dirs = _helmet_directions(n_locations)
    names, kinds, locs = [], [], []
    for i, ez in enumerate(dirs):
        ref = np.array([0.0, 0.0, 1.0]) if abs(ez[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
        ex = unit(np.cross(ref, ez))
        ey = np.cross(ez, ex)
        pos = MEG_ORIGIN + MEG_HELMET_RADIUS * ez
        for k, (kind, a, b) in enumerate((("mag", ex, ey), ("grad", ex, ey), ("grad", ey, -ex))):
            names.append(f"MEG{i + 1:03d}{k + 1}")
            kinds.append(kind)
            locs.append(np.concatenate([pos, a, b, ez]))
    info = mne.create_info([*names, *aux], sfreq, kinds + list(aux.values()))
    with info._unlock():
        for ch, loc in zip(info["chs"], locs):  # noqa: B905 (aux channels have no loc)
            ch["loc"][:] = loc
        info["dev_head_t"] = mne.transforms.Transform("meg", "head")
    return info


def _helmet_directions(n: int) -> np.ndarray:
    """``n`` evenly spread unit vectors over the upper head, excluding the face."""
    golden = np.pi * (3.0 - np.sqrt(5.0))
    for m in range(n, 20 * n):
        k = np.arange(m)
        z = 1.0 - 2.0 * (k + 0.5) / m
        phi = k * golden
        d = np.c_[np.sqrt(1 - z**2) * np.cos(phi), np.sqrt(1 - z**2) * np.sin(phi), z]
        keep = (d[:, 2] > -0.3) & ~((d[:, 1] > 0.55) & (d[:, 2] < 0.3))
        if keep.sum() >= n:
            d = d[keep]
            return d[np.argsort(-d[:, 2], kind="stable")[:n]]
    raise RuntimeError("helmet layout failed")  # unreachable for n >= 1


@dataclass
class Sources:
    """Current dipoles in head coordinates with their time courses.

    ``activity`` has shape ``(n_times, n_sources)`` in A*m; ``kind`` is ``background``,
    ``alpha`` or ``evoked`` per source.
    """

    names: list[str]
    kind: list[str]
    rr: np.ndarray
    nn: np.ndarray
    activity: np.ndarray


def brain_sources(subject_rng: np.random.Generator, session_rng: np.random.Generator,
                  n_times: int, sfreq: float, events: pd.DataFrame, *, r0, radius: float,
                  labels, alpha_freq: float, alpha_amplitude: float, n_background: int,
                  background_amplitude: float, evoked_amplitude: float) -> Sources:
    """Background 1/f dipoles, a posterior alpha pair and evoked N1 / P3 generators.

    Positions lie on a cortex-like shell (0.6-0.78 of the head radius) around ``r0``.
    Background dipoles have pink (1/f) time courses of rms ``background_amplitude``; the
    two occipito-parietal alpha dipoles carry waxing and waning ``alpha_freq`` rhythms of
    rms ``alpha_amplitude``; bilateral auditory dipoles give an N1 (100 ms, tangential,
    visible in MEG) to every stimulus and a centro-parietal radial dipole gives a P3
    (350 ms) to ``labels[1]`` stimuli (a quarter of it to the others).
    ``evoked_amplitude`` is the P3 peak moment; the N1 is half of it.
    """
    r0 = np.asarray(r0, float)
    named_dirs = unit([[-0.35, -0.9, 0.25], [0.35, -0.9, 0.25], [-0.9, -0.1, -0.1],
                       [0.9, -0.1, -0.1], [0.0, -0.45, 0.9]])
    named_dirs = unit(named_dirs + subject_rng.normal(0, 0.05, named_dirs.shape))
    rr_named = r0 + 0.7 * radius * named_dirs
    up = np.array([0.0, 0.0, 1.0])
    nn_named = unit(np.stack([named_dirs[0] + 0.5 * up, named_dirs[1] + 0.5 * up,
                              up + [0, 0.2, 0], up + [0, 0.2, 0], named_dirs[4]]))
    d = unit(subject_rng.standard_normal((n_background, 3)))
    d[:, 2] = np.abs(d[:, 2]) * 1.2 - 0.2
    d = unit(d)
    rr_bg = r0 + d * subject_rng.uniform(0.6, 0.78, (n_background, 1)) * radius
    tangent = unit(np.cross(d, subject_rng.standard_normal((n_background, 3))))
    nn_bg = unit(d + 0.6 * tangent)

    alpha = alpha_amplitude * band_noise(session_rng, n_times, sfreq, alpha_freq - 1.0,
                                         alpha_freq + 1.0, 2)
    evoked = _evoked_courses(session_rng, n_times, sfreq, events, labels, evoked_amplitude)
    background = background_amplitude * colored_noise(session_rng, n_times, sfreq, 1.0,
                                                      n_background)
    names = ["alpha_left", "alpha_right", "n1_left", "n1_right", "p3",
             *[f"background_{i:03d}" for i in range(n_background)]]
    kinds = ["alpha"] * 2 + ["evoked"] * 3 + ["background"] * n_background
    return Sources(names=names, kind=kinds, rr=np.vstack([rr_named, rr_bg]),
                   nn=np.vstack([nn_named, nn_bg]),
                   activity=np.hstack([alpha, evoked, background]))


def _evoked_courses(rng, n_times, sfreq, events, labels, p3_peak) -> np.ndarray:
    """(n_times, 3) moments of n1_left, n1_right and p3 for the stimulus events."""
    half = int(0.8 * sfreq)
    lag = np.arange(2 * half + 1) / sfreq - 0.8
    out = np.zeros((n_times, 3))
    for _, ev in events.iterrows():
        is_target = ev["label"] == labels[1]
        j1, j3 = rng.normal(0, 0.01), rng.normal(0, 0.03)
        n1 = -0.5 * p3_peak * rng.uniform(0.7, 1.3) * np.exp(-0.5 * ((lag - 0.10 - j1) / 0.02) ** 2)
        p3 = (1.0 if is_target else 0.25) * p3_peak * rng.uniform(0.7, 1.3) * np.exp(
            -0.5 * ((lag - 0.35 - j3) / 0.07) ** 2)
        for col, wave in ((0, n1), (1, n1), (2, p3)):
            out[:, col] += place(wave, [ev["onset"]], sfreq, n_times, offset=half)
    return out


def fixed_gain(info: mne.Info, sources: Sources, sphere, *, meg: bool, eeg: bool) -> np.ndarray:
    """Forward gain (n_channels, n_sources) of fixed-orientation dipoles; 0 rows for aux channels.

    Units: V/(A*m) for EEG, T/(A*m) and (T/m)/(A*m) for MEG.
    """
    src = mne.setup_volume_source_space(
        pos=dict(rr=sources.rr, nn=sources.nn), sphere=(*np.asarray(sphere["r0"]), 0.2),
        verbose="error",
    )
    if src[0]["nuse"] != len(sources.names):
        raise RuntimeError("a source fell outside the head sphere")  # a bug, not user input
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, meg=meg, eeg=eeg,
                                    verbose="error")
    free = fwd["sol"]["data"].reshape(len(fwd["sol"]["row_names"]), -1, 3)
    fixed = np.einsum("csk,sk->cs", free, sources.nn)
    gain = np.zeros((len(info["ch_names"]), len(sources.names)))
    rows = [info["ch_names"].index(name) for name in fwd["sol"]["row_names"]]
    gain[rows] = fixed
    return gain


def extracranial_field(info: mne.Info, position, moment) -> np.ndarray:
    """MEG response (T, T/m) of a current dipole outside the head, 0 on other channels.

    Primary-current field in an infinite homogeneous medium,
    ``B(r) = mu0/(4 pi) Q x (r - r_q) / |r - r_q|**3``, read along each coil normal;
    planar gradiometers take the difference over :data:`GRAD_BASELINE` along their
    baseline axis. Volume currents are ignored: adequate for the spatial pattern of eye
    and heart artefacts, not for source modelling.
    """
    rq, q = np.asarray(position, float), np.asarray(moment, float)

    def b_normal(r, n):
        d = r - rq
        return _MU0_4PI * np.einsum("ck,ck->c", np.cross(q, d), n) / np.linalg.norm(
            d, axis=1) ** 3

    out = np.zeros(len(info["ch_names"]))
    kinds = np.array(info.get_channel_types())
    locs = np.array([ch["loc"] for ch in info["chs"]])
    mag, grad = kinds == "mag", kinds == "grad"
    out[mag] = b_normal(locs[mag, :3], locs[mag, 9:12])
    r, ex, ez = locs[grad, :3], locs[grad, 3:6], locs[grad, 9:12]
    half = GRAD_BASELINE / 2.0
    out[grad] = (b_normal(r + half * ex, ez) - b_normal(r - half * ex, ez)) / GRAD_BASELINE
    return out
