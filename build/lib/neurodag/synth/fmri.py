"""Synthetic task fMRI: a small 4D BOLD image, its parcellation, block design and confounds.

The head is an ellipsoid: grey matter shell, white matter core, two ventricles (CSF).
The atlas is a template, the same for every seed and subject: k-means (seed 0)
of grey-matter voxel coordinates into ``n_parcels`` parcels, numbered left hemisphere
first, then by y and z. A two-condition block design, convolved with the Glover HRF by
nilearn, drives ``n_active`` parcels per condition. Each voxel adds AR(1) noise, a
spontaneous parcel fluctuation, a global fluctuation and slow drift. Head motion moves
the baseline image: the signal change is ``-grad(S0) . u`` with ``u`` the displacement
of the voxel (translation plus rotation about the head centre), so edges and ventricles
show motion, and frames with framewise displacement over 0.5 mm lose signal (spin
history). The confounds are computed from the image as fMRIPrep does (means over masks,
aCompCor of white matter and CSF), with motion estimates = truth + small error.

``sim.data`` holds parcel-mean BOLD (``parcel-01``...; positions = centroids) with the
events and ``confounds``. ``truth`` holds

``active``, ``amplitude`` (condition, parcel)
    Which parcels respond to which condition and by how much (% signal change at the
    plateau of a block).
``design`` (time, condition)
    The HRF-convolved regressors, scaled to a peak of 1.
``parcel_task`` (time, parcel)
    The true task signal (%) per parcel; ``parcel_fluctuation`` the spontaneous one (%).
``parcel_clean`` (time, parcel)
    Parcel-mean BOLD with only the task signal: no noise, drift, motion (a.u.).
``motion`` (time, motion_param), ``framewise_displacement`` (time)
    True head motion (mm, rad) and its Power FD (mm).
``tissue`` (i, j, k), ``atlas`` (i, j, k)
    Tissue labels (0 background, 1 grey, 2 white, 3 CSF) and parcel labels.
``parcel_centroid`` (parcel, xyz) in mm, and ``events``.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from .. import schema
from ..errors import InputError
from .common import (
    Simulation,
    band_noise,
    callable_module,
    events_frame,
    fraction,
    params_digest,
    positive,
    rngs,
    strings,
    truth_attrs,
)

MODALITY = "fmri"
MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
CONFOUNDS = ("global_signal", "csf", "white_matter", *MOTION, "framewise_displacement",
             *(f"a_comp_cor_{i:02d}" for i in range(5)))
#: Head centre in world coordinates (mm): rotations are about it.
CENTER_MM = np.array([0.0, -18.0, 8.0])
_INTENSITY = {1: 800.0, 2: 650.0, 3: 1400.0}


def generate(*, seed: int = 0, subject: str = "01", session: str = "01",
             shape=(20, 24, 20), voxel_size: float = 4.0, tr: float = 2.0,
             n_volumes: int = 120, n_parcels: int = 24, conditions=("task_a", "task_b"),
             block_duration: float = 20.0, rest_duration: float = 20.0, n_active: int = 3,
             effect_size: float = 2.0, noise_level: float = 1.0, ar_coef: float = 0.4,
             parcel_noise: float = 0.5, global_noise: float = 0.3, drift: float = 1.0,
             motion: float = 1.0) -> Simulation:
    """Simulate a task fMRI run with known active parcels and motion.

    Parameters
    ----------
    seed, subject, session : see :func:`neurodag.synth.eeg.generate`.
    shape : (int, int, int)
        Image size in voxels.
    voxel_size, tr : float
        Voxel edge (mm) and repetition time (s).
    n_volumes, n_parcels : int
        Volumes in the run and parcels in the atlas.
    conditions : pair of str
        Trial types of the blocks, which alternate in a session-specific order.
    block_duration, rest_duration : float
        Block and rest lengths (s).
    n_active : int
        Active parcels per condition (disjoint between conditions).
    effect_size : float
        Mean block response in % signal change (x 0.7-1.3 per parcel).
    noise_level, ar_coef : float
        sd (%) and lag-1 coefficient of the voxel AR(1) noise.
    parcel_noise, global_noise, drift : float
        sd (%) of spontaneous parcel and global fluctuations; drift amplitude (%).
    motion : float
        Scale of head motion (0 = still head).
    """
    params = dict(locals())
    m = MODALITY
    shape = tuple(positive(m, "shape", s, integer=True, minimum=8) for s in shape)
    if len(shape) != 3:
        raise InputError(f"synth.fmri: shape must have 3 sizes, got {params['shape']!r}")
    voxel_size = positive(m, "voxel_size", voxel_size)
    tr = positive(m, "tr", tr)
    n_volumes = positive(m, "n_volumes", n_volumes, integer=True, minimum=10)
    n_parcels = positive(m, "n_parcels", n_parcels, integer=True, minimum=2)
    n_active = positive(m, "n_active", n_active, integer=True, minimum=0)
    ar_coef = fraction(m, "ar_coef", ar_coef, high=0.99)
    for name in ("block_duration", "rest_duration"):
        positive(m, name, params[name])
    for name in ("effect_size", "noise_level", "parcel_noise", "global_noise", "drift", "motion"):
        positive(m, name, params[name], minimum=0)
    if len(conditions) != 2 or conditions[0] == conditions[1]:
        raise InputError(
            f"synth.fmri: conditions must be two distinct names, got {conditions!r}")
    if 2 * n_active > n_parcels:
        raise InputError(
            f"synth.fmri: 2 * n_active ({2 * n_active}) exceeds n_parcels ({n_parcels})")
    rng_subject, rng_session = rngs(m, seed, subject, session)

    affine = np.diag([voxel_size] * 3 + [1.0])
    affine[:3, 3] = CENTER_MM - voxel_size * (np.array(shape) - 1) / 2.0
    tissue = _tissue(shape)
    atlas, centroids = _atlas(tissue, affine, n_parcels)
    gm = atlas > 0
    brain = tissue > 0

    frame_times = np.arange(n_volumes) * tr
    events = _blocks(rng_session, conditions, block_duration, rest_duration, n_volumes * tr)
    design = _design(frame_times, events, conditions)

    order = rng_subject.permutation(n_parcels)
    amplitude = np.zeros((2, n_parcels))
    for c in range(2):
        chosen = order[c * n_active:(c + 1) * n_active]
        amplitude[c, chosen] = effect_size * rng_subject.uniform(0.7, 1.3, n_active)
    parcel_task = design @ amplitude                                   # (time, parcel) %
    parcel_fluct = parcel_noise * band_noise(rng_session, n_volumes, 1.0 / tr, 0.01,
                                             min(0.1, 0.45 / tr), n_parcels)

    s0 = _baseline(tissue, affine)
    n_vox = int(brain.sum())
    pct = np.zeros((n_volumes, n_vox))
    labels_in_brain = atlas[brain]
    in_gm = labels_in_brain > 0
    pct[:, in_gm] += (parcel_task + parcel_fluct)[:, labels_in_brain[in_gm] - 1]
    pct += global_noise * band_noise(rng_session, n_volumes, 1.0 / tr, 0.01,
                                     min(0.1, 0.45 / tr))
    pct += drift * _drift_shape(rng_session, n_volumes) @ (
        1.0 + 0.3 * rng_session.standard_normal((2, n_vox)))
    pct += noise_level * _ar1(rng_session, n_volumes, n_vox, ar_coef)

    true_motion = motion * _motion(rng_session, n_volumes)
    fd_true = _fd(true_motion)
    world = (np.c_[np.argwhere(brain), np.ones(n_vox)] @ affine.T)[:, :3] - CENTER_MM
    grad = np.stack(np.gradient(s0, voxel_size), axis=-1)[brain]         # (vox, 3) per mm
    disp = true_motion[:, None, :3] + np.cross(true_motion[:, None, 3:], world[None])
    spin = 1.0 - 0.02 * np.clip(np.nan_to_num(fd_true) / 0.5 - 1.0, 0.0, 3.0)

    bold = np.zeros((n_volumes, *shape), np.float32)
    bold[:] = s0
    bold[:, brain] = ((s0[brain] * (1.0 + pct / 100.0) - np.einsum("tvk,vk->tv", disp, grad))
                      * spin[:, None])
    bold[:, ~brain] += rng_session.normal(0.0, 2.0, (n_volumes, int((~brain).sum())))

    parcel_bold = _parcel_means(bold.astype(np.float64), atlas, n_parcels)
    clean = np.stack([s0[atlas == p].mean() * (1 + parcel_task[:, p - 1] / 100.0)
                      for p in range(1, n_parcels + 1)], axis=1)
    confounds = _confounds(bold, tissue, true_motion, rng_session)

    names = [f"parcel-{p:02d}" for p in range(1, n_parcels + 1)]
    ds = schema.build(
        parcel_bold, sfreq=1.0 / tr, channels=names, channel_types="bold", modality=m,
        subject=subject, session=session, positions=centroids / 1000.0,
        events=events.rename(columns={"trial_type": "label"}), confounds=confounds,
        source=f"synthetic:{m}", source_sha256=params_digest(m, params),
        attrs={"repetition_time": tr},
    )
    ijk = ("i", "j", "k")
    truth = xr.Dataset(
        {
            "active": (("condition", "parcel"), amplitude > 0),
            "amplitude": (("condition", "parcel"), amplitude, {"units": "%"}),
            "design": (("time", "condition"), design),
            "parcel_task": (("time", "parcel"), parcel_task, {"units": "%"}),
            "parcel_fluctuation": (("time", "parcel"), parcel_fluct, {"units": "%"}),
            "parcel_clean": (("time", "parcel"), clean, {"units": "a.u."}),
            "motion": (("time", "motion_param"), true_motion),
            "framewise_displacement": ("time", fd_true, {"units": "mm"}),
            "tissue": (ijk, tissue.astype(np.int8)),
            "atlas": (ijk, atlas.astype(np.int16)),
            "parcel_centroid": (("parcel", "xyz"), centroids, {"units": "mm"}),
        },
        coords={"time": ("time", frame_times, {"units": "s"}), "parcel": strings(names),
                "condition": strings(conditions), "motion_param": strings(MOTION),
                "xyz": strings("xyz")},
        attrs=truth_attrs(m, params, tr=tr, motion_units="mm (trans_*), rad (rot_*)"),
    )
    truth = schema.set_events(truth, events.rename(columns={"trial_type": "label"}))
    native = {
        "bold": _nifti(np.moveaxis(bold, 0, -1), affine, tr),
        "atlas": _nifti(atlas.astype(np.int16), affine, None),
        "atlas_table": pd.DataFrame({"index": np.arange(1, n_parcels + 1), "name": names}),
        "events": events,
        "confounds": confounds,
    }
    return Simulation(modality=m, data=ds, truth=truth, params=params, native=native)


def _tissue(shape) -> np.ndarray:
    """0 background, 1 grey matter (outer shell), 2 white matter, 3 CSF (two ventricles)."""
    c = (np.array(shape) - 1) / 2.0
    semi = np.array(shape) / 2.0 - 1.5
    ijk = np.indices(shape).transpose(1, 2, 3, 0) - c
    rho = np.sqrt(((ijk / semi) ** 2).sum(-1))
    tissue = np.where(rho <= 1.0, 1, 0)
    tissue[rho <= 0.62] = 2
    for side in (-1, 1):
        off = np.array([side * 0.09, 0.05, 0.08]) * semi * 2
        vent = (((ijk - off) / (semi * [0.12, 0.3, 0.18])) ** 2).sum(-1) <= 1.0
        tissue[vent & (rho <= 0.62)] = 3
    return tissue.astype(np.int8)


def _atlas(tissue, affine, n_parcels) -> tuple[np.ndarray, np.ndarray]:
    """Template parcellation of grey matter (k-means of coordinates, seed 0)."""
    from scipy.cluster.vq import kmeans2

    vox = np.argwhere(tissue == 1)
    if len(vox) < 2 * n_parcels:
        raise InputError(f"synth.fmri: {len(vox)} grey-matter voxels cannot hold {n_parcels} "
                         "parcels; enlarge shape")
    world = (np.c_[vox, np.ones(len(vox))] @ affine.T)[:, :3]
    centers, labels = kmeans2(world, n_parcels, iter=50, minit="++", seed=0)
    order = np.lexsort((centers[:, 2], centers[:, 1], centers[:, 0] >= CENTER_MM[0]))
    relabel = np.empty(n_parcels, int)
    relabel[order] = np.arange(1, n_parcels + 1)
    atlas = np.zeros(tissue.shape, np.int16)
    atlas[tuple(vox.T)] = relabel[labels]
    centroids = np.stack([world[atlas[tuple(vox.T)] == p].mean(0)
                          for p in range(1, n_parcels + 1)])
    return atlas, centroids


def _blocks(rng, conditions, block, rest, total) -> pd.DataFrame:
    """Blocks separated by rest, starting after half a rest, conditions in shuffled pairs."""
    onsets, labels, t = [], [], rest / 2.0
    while t + block <= total:
        onsets.append(t)
        t += block + rest
    for _ in range(0, len(onsets), 2):
        labels.extend(rng.permutation(conditions).tolist())
    ev = events_frame(onsets, [block] * len(onsets), labels[: len(onsets)])
    if ev.empty:
        raise InputError(f"synth.fmri: a {block} s block does not fit in a {total} s run")
    return ev.rename(columns={"label": "trial_type"})


def _design(frame_times, events, conditions) -> np.ndarray:
    """HRF-convolved regressors (Glover, nilearn), one per condition, peak 1."""
    from nilearn.glm.first_level import make_first_level_design_matrix

    dm = make_first_level_design_matrix(frame_times, events, hrf_model="glover",
                                        drift_model=None)
    out = np.zeros((len(frame_times), len(conditions)))
    for i, c in enumerate(conditions):
        if c in dm:
            col = dm[c].to_numpy()
            out[:, i] = col / col.max()
    return out


def _baseline(tissue, affine) -> np.ndarray:
    """Mean EPI image: tissue intensities, partial-volume blur and a smooth coil bias."""
    s0 = np.zeros(tissue.shape)
    for label, value in _INTENSITY.items():
        s0[tissue == label] = value
    s0 = ndimage.gaussian_filter(s0, 0.7)
    y = np.indices(tissue.shape)[1] / tissue.shape[1] - 0.5
    return s0 * (1.0 + 0.15 * y) + 10.0


def _drift_shape(rng, n) -> np.ndarray:
    """Two slow drift components (n, 2): a linear ramp and half a cosine, random signs."""
    t = np.linspace(-0.5, 0.5, n)
    return np.stack([t * rng.choice([-1, 1]), 0.5 * np.cos(np.pi * (t + 0.5))], axis=1)


def _ar1(rng, n_times, n_signals, coef) -> np.ndarray:
    from scipy.signal import lfilter

    white = rng.standard_normal((n_times, n_signals)) * np.sqrt(1 - coef**2)
    return lfilter([1.0], [1.0, -coef], white, axis=0)


def _motion(rng, n) -> np.ndarray:
    """(n, 6) head motion: slow random walk plus a few jerks (mm, rad)."""
    step = [0.01, 0.01, 0.015, 1.5e-4, 1.5e-4, 1.5e-4]
    walk = np.cumsum(rng.normal(0, 1, (n, 6)), axis=0) * step
    walk = ndimage.gaussian_filter1d(walk, 1.5, axis=0)
    for _ in range(rng.poisson(2)):
        t0, length = int(rng.integers(5, n - 3)), int(rng.integers(1, 4))
        jump = rng.normal(0, 1, 6) * [0.2, 0.2, 0.3, 0.003, 0.003, 0.003]
        walk[t0:t0 + length] += jump
    return walk - walk[0]


def _fd(motion) -> np.ndarray:
    """Power framewise displacement (rotations on a 50 mm sphere); NaN for the first volume."""
    d = np.abs(np.diff(motion, axis=0))
    return np.r_[np.nan, d[:, :3].sum(1) + 50.0 * d[:, 3:].sum(1)]


def _parcel_means(bold, atlas, n_parcels) -> np.ndarray:
    flat = bold.reshape(bold.shape[0], -1)
    lab = atlas.ravel()
    return np.stack([flat[:, lab == p].mean(1) for p in range(1, n_parcels + 1)], axis=1)


def _confounds(bold, tissue, true_motion, rng) -> pd.DataFrame:
    n = bold.shape[0]
    flat = bold.reshape(n, -1).astype(np.float64)
    lab = tissue.ravel()
    wm_core = ndimage.binary_erosion(tissue == 2).ravel()
    noise_roi = flat[:, (lab == 3) | wm_core]
    x = noise_roi - noise_roi.mean(0)
    t = np.linspace(-1, 1, n)
    basis = np.c_[np.ones(n), t, t**2]
    x = x - basis @ np.linalg.lstsq(basis, x, rcond=None)[0]
    x /= np.where(x.std(0) > 0, x.std(0), 1.0)
    u = np.linalg.svd(x, full_matrices=False)[0][:, :5]
    u *= np.sign(u[np.abs(u).argmax(0), range(u.shape[1])])      # deterministic signs
    est = true_motion + rng.normal(0, 1, true_motion.shape) * [0.01, 0.01, 0.01, 1e-4, 1e-4, 1e-4]
    out = {
        "global_signal": flat[:, lab > 0].mean(1),
        "csf": flat[:, lab == 3].mean(1),
        "white_matter": flat[:, wm_core].mean(1),
        **{name: est[:, i] for i, name in enumerate(MOTION)},
        "framewise_displacement": _fd(est),
        **{f"a_comp_cor_{i:02d}": u[:, i] for i in range(u.shape[1])},
    }
    return pd.DataFrame(out, columns=list(CONFOUNDS))


def _nifti(array, affine, tr) -> nib.Nifti1Image:
    img = nib.Nifti1Image(array, affine)
    img.header.set_xyzt_units("mm", "sec")
    if tr is not None:
        img.header.set_zooms((*img.header.get_zooms()[:3], float(tr)))
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    return img


callable_module(__name__)
