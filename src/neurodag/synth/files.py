"""Write a Simulation as the real-format files the readers of :mod:`neurodag.io` read.

======================  =================================================================
modality                files (besides ``truth.nc``)
======================  =================================================================
eeg, meg                ``recording_raw.fif``
seeg, ecog              ``recording_raw.fif``, ``electrodes.tsv``, ``coordsystem.json``
fmri                    ``bold.nii.gz``, ``atlas.nii.gz``, ``atlas.tsv``, ``events.tsv``,
                        ``confounds.tsv``
calcium                 ``traces.csv`` (``time`` then one column per neuron/ROI)
spikes                  ``counts.csv`` (``time`` = bin starts, then integer counts),
                        ``events.tsv`` (the sequences, trial_type ``sequence``, and any
                        stimuli)
behavior                ``trials.tsv`` (one row per trial: ``session``, ``start_time``,
                        ``stop_time``, then the numeric columns; ``n/a`` where missing)
======================  =================================================================

All files are first written into a hidden temporary folder next to their destination;
only when every file is complete are they moved into place (each through
:func:`neurodag.store.atomic_path`), so a failed write leaves nothing half-made.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import xarray as xr

from .. import schema, schema_trials
from ..errors import InputError
from ..store import atomic_path
from .common import Simulation

#: Files written per modality, the recording first and ``truth.nc`` last.
FILES = {
    "eeg": ("recording_raw.fif", "truth.nc"),
    "meg": ("recording_raw.fif", "truth.nc"),
    "seeg": ("recording_raw.fif", "electrodes.tsv", "coordsystem.json", "truth.nc"),
    "ecog": ("recording_raw.fif", "electrodes.tsv", "coordsystem.json", "truth.nc"),
    "fmri": ("bold.nii.gz", "atlas.nii.gz", "atlas.tsv", "events.tsv", "confounds.tsv",
             "truth.nc"),
    "calcium": ("traces.csv", "truth.nc"),
    "spikes": ("counts.csv", "events.tsv", "truth.nc"),
    "behavior": ("trials.tsv", "truth.nc"),
}


def write(sim: Simulation, out_dir) -> list[Path]:
    """Write ``sim`` into ``out_dir`` (created if needed); return the paths, recording first.

    Parameters
    ----------
    sim : Simulation
        From :func:`neurodag.synth.generate`.
    out_dir : path-like
        Destination folder. Existing files of the same names are replaced; other files
        are left alone.

    Returns
    -------
    list of Path
        ``FILES[sim.modality]`` inside ``out_dir``.
    """
    if not isinstance(sim, Simulation):
        raise InputError(f"synth.write: expected a Simulation, got {type(sim).__name__}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    writers = _writers(sim)
    names = FILES[sim.modality]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if not out_dir.exists():
        with atomic_path(out_dir) as tmp:
            tmp.mkdir()
            for name in names:
                writers[name](tmp / name)
        return [out_dir / name for name in names]
    stage = Path(tempfile.mkdtemp(prefix=".synth-", suffix=".partial", dir=out_dir))
    try:
        for name in names:
            writers[name](stage / name)
        for name in names:
            with atomic_path(out_dir / name) as tmp:
                os.replace(stage / name, tmp)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [out_dir / name for name in names]


def _writers(sim: Simulation) -> dict[str, Callable[[Path], None]]:
    m = sim.modality
    out: dict[str, Callable[[Path], None]] = {"truth.nc": lambda p: write_truth(sim.truth, p)}
    if m in ("eeg", "meg", "seeg", "ecog"):
        out["recording_raw.fif"] = lambda p: _write_fif(sim, p)
    if m in ("seeg", "ecog"):
        out["electrodes.tsv"] = lambda p: _write_tsv(_electrodes(sim), p)
        out["coordsystem.json"] = lambda p: p.write_text(json.dumps(
            {"iEEGCoordinateSystem": "Other", "iEEGCoordinateUnits": "mm",
             "iEEGCoordinateSystemDescription": "MNI-like coordinates of a synthetic head"},
            indent=2) + "\n")
    if m == "fmri":
        nat = sim.native
        out["bold.nii.gz"] = lambda p: _write_nifti(nat["bold"], p)
        out["atlas.nii.gz"] = lambda p: _write_nifti(nat["atlas"], p)
        out["atlas.tsv"] = lambda p: _write_tsv(nat["atlas_table"], p)
        out["events.tsv"] = lambda p: _write_tsv(nat["events"], p)
        out["confounds.tsv"] = lambda p: _write_tsv(nat["confounds"], p)
    if m == "calcium":
        out["traces.csv"] = lambda p: _write_table(sim.data, p, integer=False)
    if m == "spikes":
        out["counts.csv"] = lambda p: _write_table(sim.data, p, integer=True)
        # BIDS events: the sequences (trials) the session is made of.
        out["events.tsv"] = lambda p: _write_tsv(
            schema.get_events(sim.data).rename(columns={"label": "trial_type"}), p)
    if m == "behavior":
        out["trials.tsv"] = lambda p: schema_trials.trials_frame(sim.data).to_csv(
            p, sep="\t", index=False, na_rep="n/a")
    return out


def write_truth(truth: xr.Dataset, path) -> None:
    """``truth`` as netCDF (h5netcdf): strings variable-length, large float arrays as
    gzip-compressed float32 (ample for scoring; in memory they stay float64)."""
    ds = truth.copy()
    encoding = {}
    for name, var in ds.variables.items():
        var.encoding = {}
        if var.dtype.kind in "UT" or var.dtype == object:
            ds[name] = var.astype(object)
        elif var.dtype.kind == "f" and var.size > 4096:
            encoding[name] = {"dtype": "float32", "compression": "gzip",
                              "compression_opts": 1, "shuffle": True}
    ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)


def _write_fif(sim: Simulation, path: Path) -> None:
    if "info" in sim.native:
        info = sim.native["info"].copy()
    else:
        info = mne.create_info(sim.data["channel"].values.tolist(), sim.data.attrs["sfreq"],
                               sim.data["channel_type"].values.tolist())
    info["line_freq"] = sim.data.attrs.get("line_freq")
    data = sim.data["signal"].transpose("channel", "time").values
    raw = mne.io.RawArray(data, info, verbose="error")
    if sim.modality in ("seeg", "ecog"):
        pos = np.c_[sim.data["x"].values, sim.data["y"].values, sim.data["z"].values]
        montage = mne.channels.make_dig_montage(
            ch_pos=dict(zip(sim.data["channel"].values.tolist(), pos, strict=True)),
            coord_frame="mni_tal")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ff]iducial.*")
            raw.set_montage(montage, verbose="error")
    ev = schema.get_events(sim.data)
    if len(ev):
        raw.set_annotations(mne.Annotations(ev["onset"].to_numpy(), ev["duration"].to_numpy(),
                                            ev["label"].tolist()))
    raw.save(path, fmt="single", overwrite=True, verbose="error")


def _electrodes(sim: Simulation) -> pd.DataFrame:
    e = sim.native["electrodes"]
    return pd.DataFrame({"name": e["name"], "x": e["x"].round(3), "y": e["y"].round(3),
                         "z": e["z"].round(3), "size": e["size"], "group": e["group"],
                         "region": e["region"]})


def _write_tsv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.10g")


def _write_nifti(img, path: Path) -> None:
    # nibabel picks the format from the extension; write the bytes ourselves, reproducibly.
    path.write_bytes(gzip.compress(img.to_bytes(), compresslevel=6, mtime=0))


def _write_table(ds: xr.Dataset, path: Path, *, integer: bool) -> None:
    values = ds["signal"].transpose("time", "channel").values
    df = pd.DataFrame(values.astype(np.int64) if integer else values,
                      columns=ds["channel"].values.tolist())
    df.insert(0, "time", ds["time"].values)
    df.to_csv(path, index=False, float_format=None if integer else "%.12g")
