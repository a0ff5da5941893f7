"""Synthetic intracranial EEG: sEEG depth shafts (``layout="shafts"``) or an ECoG grid.

Anatomy is a small hand-made table of regions with MNI-like centres (mm) and radii, not
an atlas (none ships offline). A contact belongs to the region whose sphere contains it
(the nearest centre if several), else to ``white matter``; grid contacts, which lie on the
cortex, take the nearest region. Each grey-matter region is one source: 1/f^1.8 activity
plus a region rhythm. Contacts see every source through volume conduction,
``1 / (1 + (d / 6 mm)**2)`` with ``d`` the distance to the region's sphere (0 inside), plus
local 1/f activity of their own. Interictal spikes (sharp wave and slow wave) occur in one
region and spread the same way. ``truth`` holds

``brain`` (time, channel)
    LFP without spikes, line noise or sensor noise (V).
``ied`` (time, channel)
    Interictal spike contribution (V).
``artifacts`` (artifact, time, channel)
    ``line`` (mains). ``data == brain + ied + artifacts.sum("artifact") + noise``.
``noise`` (time, channel)
    White amplifier noise (V).
``region_source`` (time, region), ``ied_source`` (time), ``mixing`` (channel, region)
    Region activity (V at the region), the spike train at the spike region, and weights.
``spike_time`` (spike)
    Spike peak times (s); attr ``spike_region``.
``region_center`` (region, xyz), ``region_radius`` (region)
    Region geometry (mm, MNI-like).
coords ``region``, ``shaft``, ``position`` (channel, xyz, mm)
    The contact -> region table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import schema
from ..errors import InputError
from . import physio
from .common import (
    Simulation,
    band_noise,
    callable_module,
    choice,
    colored_noise,
    params_digest,
    place,
    point_process,
    positive,
    rngs,
    strings,
    truth_attrs,
)

WHITE_MATTER = "white matter"

#: name -> (centre mm, radius mm, rhythm Hz)
REGIONS = {
    "left amygdala": ((-23, -5, -19), 8, 4.0),
    "left hippocampus": ((-29, -22, -12), 9, 6.0),
    "left insula": ((-37, 4, 3), 8, 10.0),
    "left anterior temporal cortex": ((-55, -5, -22), 10, 16.0),
    "left middle temporal gyrus": ((-58, -22, -10), 9, 18.0),
    "left inferior frontal gyrus": ((-55, 11, 16), 12, 20.0),
    "right amygdala": ((23, -5, -19), 8, 4.0),
    "right hippocampus": ((29, -22, -12), 9, 6.0),
    "right anterior temporal cortex": ((55, -5, -22), 10, 16.0),
    "right middle temporal gyrus": ((58, -22, -10), 9, 18.0),
    "left orbitofrontal cortex": ((-22, 32, -16), 9, 8.0),
    "left lateral orbitofrontal cortex": ((-48, 38, -12), 9, 12.0),
    "left anterior cingulate cortex": ((-6, 30, 24), 8, 6.0),
    "left middle frontal gyrus": ((-36, 30, 40), 10, 18.0),
}

#: shaft -> (deepest contact mm, direction outwards)
SHAFTS = {
    "LA": ((-19, -5, -19), (-1, 0, 0)),
    "LH": ((-25, -22, -12), (-1, 0, 0)),
    "LI": ((-36, 4, 2), (-0.8, 0.2, 0.56)),
    "RA": ((19, -5, -19), (1, 0, 0)),
    "RH": ((25, -22, -12), (1, 0, 0)),
    "LO": ((-18, 32, -16), (-1, 0.2, 0.1)),
    "LC": ((-5, 30, 24), (-0.9, 0, 0.45)),
}

#: ECoG: cortical regions on the left convexity, name -> (centre mm, rhythm Hz).
GRID_REGIONS = {
    "left superior temporal gyrus": ((-64, -18, 2), 8.0),
    "left middle temporal gyrus": ((-64, -32, -14), 14.0),
    "left precentral gyrus": ((-56, -4, 32), 20.0),
    "left postcentral gyrus": ((-56, -24, 36), 18.0),
    "left supramarginal gyrus": ((-58, -42, 26), 10.0),
    "left inferior frontal gyrus": ((-56, 16, 10), 22.0),
}
_GRID_SPHERE = (np.array([0.0, -15.0, 10.0]), 66.0)
#: Grid regions are patches of cortex: this radius (mm) counts as "inside" for conduction.
_GRID_REGION_RADIUS = 10.0
_CONDUCTION_MM = 6.0


def generate(*, seed: int = 0, subject: str = "01", session: str = "01",
             layout: str = "shafts", duration: float = 60.0, sfreq: float = 512.0,
             n_shafts: int = 4, n_contacts: int = 8, spacing: float = 5.0,
             grid_shape=(4, 8), line_freq: float = 50.0, line_amplitude: float = 10e-6,
             source_amplitude: float = 50e-6, rhythm_amplitude: float = 25e-6,
             local_amplitude: float = 15e-6, spike_region: str | None = None,
             spike_rate: float = 0.2, spike_amplitude: float = 400e-6,
             noise_amplitude: float = 3e-6) -> Simulation:
    """Simulate sEEG (depth shafts) or, with ``layout="grid"``, ECoG.

    Parameters
    ----------
    seed, subject, session : see :func:`neurodag.synth.eeg.generate`.
    layout : {"shafts", "grid"}
        Depth shafts (modality ``seeg``, contacts ``LA1``...) or a subdural grid
        (modality ``ecog``, contacts ``G1``...).
    duration, sfreq : float
        Length (s) and sampling rate (Hz).
    n_shafts, n_contacts, spacing : int, int, float
        Shafts (first ``n_shafts`` of :data:`SHAFTS`), contacts per shaft and their
        spacing (mm).
    grid_shape : (int, int)
        Rows and columns of the grid (10 mm spacing).
    line_freq, line_amplitude : float
        Mains frequency (Hz) and typical amplitude (V).
    source_amplitude, rhythm_amplitude, local_amplitude : float
        rms (V) of each region's 1/f activity, its rhythm and each contact's own activity.
    spike_region : str, optional
        Region of the interictal spikes; default the left hippocampus (shafts) or the
        left superior temporal gyrus (grid), else the first region.
    spike_rate, spike_amplitude : float
        Spikes per second and their peak (V) inside the region.
    noise_amplitude : float
        rms white noise (V).
    """
    params = dict(locals())
    m = "ecog" if layout == "grid" else "seeg"
    choice(m, "layout", layout, ("shafts", "grid"))
    duration = positive(m, "duration", duration)
    sfreq = positive(m, "sfreq", sfreq)
    line_freq = positive(m, "line_freq", line_freq)
    for name in ("line_amplitude", "source_amplitude", "rhythm_amplitude", "local_amplitude",
                 "spike_rate", "spike_amplitude", "noise_amplitude"):
        positive(m, name, params[name], minimum=0)
    rng_subject, rng_session = rngs(m, seed, subject, session)
    if layout == "shafts":
        n_shafts = positive(m, "n_shafts", n_shafts, integer=True)
        if n_shafts > len(SHAFTS):
            raise InputError(f"synth.seeg: n_shafts must be at most {len(SHAFTS)}, got {n_shafts}")
        n_contacts = positive(m, "n_contacts", n_contacts, integer=True)
        spacing = positive(m, "spacing", spacing)
        contacts = _shaft_contacts(list(SHAFTS)[:n_shafts], n_contacts, spacing)
    else:
        rows, cols = (positive(m, "grid_shape", v, integer=True) for v in grid_shape)
        contacts = _grid_contacts(rows, cols)
    regions = sorted(set(contacts["region"]) - {WHITE_MATTER},
                     key=lambda r: list(REGIONS if layout == "shafts" else GRID_REGIONS).index(r))
    default = "left hippocampus" if layout == "shafts" else "left superior temporal gyrus"
    if spike_region is None:
        spike_region = default if default in regions else regions[0]
    choice(m, "spike_region", spike_region, regions)
    table = REGIONS if layout == "shafts" else {
        k: (c, _GRID_REGION_RADIUS, f) for k, (c, f) in GRID_REGIONS.items()}
    centers = np.array([table[r][0] for r in regions], float)
    radii = np.array([table[r][1] for r in regions], float)
    rhythms = np.array([table[r][2] for r in regions]) + rng_subject.uniform(-0.5, 0.5,
                                                                              len(regions))

    n_times = int(round(duration * sfreq))
    if n_times < 2 * sfreq:
        raise InputError(f"synth.{m}: duration must be at least 2 s, got {duration}")
    times = np.arange(n_times) / sfreq
    pos = contacts[["x", "y", "z"]].to_numpy(float)
    dist = np.linalg.norm(pos[:, None] - centers[None], axis=2) - radii
    mixing = 1.0 / (1.0 + (np.maximum(dist, 0.0) / _CONDUCTION_MM) ** 2)

    n_reg, n_ch = len(regions), len(contacts)
    region_source = source_amplitude * colored_noise(rng_session, n_times, sfreq, 1.8, n_reg)
    for k, f in enumerate(rhythms):
        region_source[:, k] += rhythm_amplitude * band_noise(
            rng_session, n_times, sfreq, f - 1.0, f + 1.0)[:, 0]
    grey = (contacts["region"] != WHITE_MATTER).to_numpy()
    local = local_amplitude * np.where(grey, 1.0, 0.3) * colored_noise(
        rng_session, n_times, sfreq, 1.5, n_ch)
    brain = region_source @ mixing.T + local

    k_spike = regions.index(spike_region)
    spike_times = point_process(rng_session, spike_rate, 0.5, duration - 0.5, refractory=0.5)
    half = int(0.3 * sfreq)
    lag = np.arange(-half, 2 * half) / sfreq
    wave = (-np.exp(-0.5 * (lag / 0.010) ** 2) + 0.3 * np.exp(-0.5 * ((lag - 0.04) / 0.015) ** 2)
            - 0.4 * np.exp(-0.5 * ((lag - 0.18) / 0.07) ** 2))
    ied_source = place(wave, spike_times, sfreq, n_times,
                       spike_amplitude * rng_session.uniform(0.7, 1.3, spike_times.size),
                       offset=half)
    ied = ied_source[:, None] * mixing[:, k_spike]

    line_amp = line_amplitude * rng_session.lognormal(0.0, 0.5, n_ch)
    line = physio.line_noise(rng_session, times, line_freq, line_amp)
    noise = noise_amplitude * rng_session.standard_normal((n_times, n_ch))
    data = brain + ied + line + noise

    names = contacts["name"].tolist()
    ds = schema.build(
        data, sfreq=sfreq, channels=names, channel_types=m, modality=m, subject=subject,
        session=session, region=contacts["region"].tolist(), positions=pos / 1000.0,
        source=f"synthetic:{m}", source_sha256=params_digest(m, params),
        attrs={"line_freq": line_freq},
    )
    truth = xr.Dataset(
        {
            "brain": (("time", "channel"), brain, {"units": "V"}),
            "ied": (("time", "channel"), ied, {"units": "V"}),
            "artifacts": (("artifact", "time", "channel"), line[None], {"units": "V"}),
            "noise": (("time", "channel"), noise, {"units": "V"}),
            "region_source": (("time", "region"), region_source, {"units": "V"}),
            "ied_source": ("time", ied_source, {"units": "V"}),
            "mixing": (("channel", "region"), mixing),
            "spike_time": ("spike", spike_times, {"units": "s"}),
            "region_center": (("region", "xyz"), centers, {"units": "mm"}),
            "region_radius": ("region", radii, {"units": "mm"}),
            "region_rhythm": ("region", rhythms, {"units": "Hz"}),
        },
        coords={"time": ("time", times, {"units": "s"}), "channel": strings(names),
                "region": strings(regions), "artifact": strings(["line"]),
                "channel_region": ("channel", strings(contacts["region"])),
                "shaft": ("channel", strings(contacts["group"])),
                "position": (("channel", "xyz"), pos, {"units": "mm"}),
                "xyz": strings("xyz")},
        attrs=truth_attrs(m, params, spike_region=spike_region, line_freq=line_freq,
                          sfreq=sfreq),
    )
    return Simulation(modality=m, data=ds, truth=truth, params=params,
                      native={"electrodes": contacts})


def assign_region(points_mm: np.ndarray, table=None) -> list[str]:
    """Region of each point: the region sphere containing it (nearest centre), else white matter."""
    table = REGIONS if table is None else table
    names = list(table)
    centers = np.array([table[n][0] for n in names], float)
    radii = np.array([table[n][1] for n in names], float)
    d = np.linalg.norm(np.asarray(points_mm, float)[:, None] - centers[None], axis=2)
    inside = d <= radii
    nearest = np.where(inside, d, np.inf).argmin(axis=1)
    return [names[j] if inside[i, j] else WHITE_MATTER for i, j in enumerate(nearest)]


def _shaft_contacts(shafts, n_contacts: int, spacing: float) -> pd.DataFrame:
    rows = []
    for shaft in shafts:
        tip, direction = (np.asarray(v, float) for v in SHAFTS[shaft])
        direction /= np.linalg.norm(direction)
        for k in range(n_contacts):
            rows.append((f"{shaft}{k + 1}", shaft, *(tip + k * spacing * direction)))
    df = pd.DataFrame(rows, columns=["name", "group", "x", "y", "z"])
    df["region"] = assign_region(df[["x", "y", "z"]].to_numpy())
    df["size"] = 5.0  # mm^2, a 0.8 mm x 2 mm cylinder
    return df


def _grid_contacts(rows: int, cols: int) -> pd.DataFrame:
    center, radius = _GRID_SPHERE
    anchor = np.array([-64.0, -14.0, 12.0])
    u = np.array([0.0, 1.0, 0.25]) / np.hypot(1.0, 0.25)   # anterior, following the Sylvian line
    v = np.cross(u, [-1.0, 0.0, 0.0])                       # superior
    out = []
    for r in range(rows):
        for c in range(cols):
            p = anchor + 10.0 * ((c - (cols - 1) / 2) * u + ((rows - 1) / 2 - r) * v)
            p = center + radius * (p - center) / np.linalg.norm(p - center)
            out.append((f"G{r * cols + c + 1}", "G", *p))
    df = pd.DataFrame(out, columns=["name", "group", "x", "y", "z"])
    names = list(GRID_REGIONS)
    centers = np.array([GRID_REGIONS[n][0] for n in names], float)
    d = np.linalg.norm(df[["x", "y", "z"]].to_numpy()[:, None] - centers[None], axis=2)
    df["region"] = [names[j] for j in d.argmin(axis=1)]
    df["size"] = 4.2  # mm^2, a 2.3 mm disc
    return df


callable_module(__name__)
