"""spkit's sample EEG (pickles) into the signal contract, through the restricted unpickler.

spkit ships two 14-channel Emotiv EPOC recordings (PhyAAt dataset), 16 s at 128 Hz, in
microvolts (spkit's ATAR documentation gives the samples' unit as uV):

- ``EEG16SecData.pkl``: a pair ``(X, ch_names)``, X of shape (2048, 14);
- ``EEG16sec_artifact.pkl``: a dict with ``X_raw`` (raw), ``X_fil`` (0.5 Hz high-pass),
  ``X_ica`` and ``X_atar_soft``/``X_atar_elim`` (artifacts removed), ``fs``, ``ch_names``,
  ``info``.

Samples are converted to volts; positions come from MNE's standard 10-20 montage in head
coordinates (:func:`neurodag.synth.head.montage_positions`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .. import schema
from ..errors import InputError
from ..io import safe_pickle

#: Emotiv EPOC channel order, as spkit lists it (``spkit.eeg.eeg_map``).
EMOTIV_CHANNELS = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4",
                   "F8", "AF4")
SPKIT_SFREQ = 128.0
ARTIFACT_KEYS = ("X_raw", "X_fil", "X_ica", "X_atar_soft", "X_atar_elim")
_MICROVOLT = 1e-6


def _unpack(obj, path: Path, key: str | None):
    """``(X, names, fs or None, key or None)`` from either spkit layout."""
    if isinstance(obj, dict):
        key = "X_raw" if key is None else key
        if key not in ARTIFACT_KEYS:
            raise InputError(f"{path}: option key {key!r} is not one of {list(ARTIFACT_KEYS)}")
        missing = [k for k in (key, "ch_names") if k not in obj]
        if missing:
            raise InputError(f"{path}: spkit EEG dict lacks {missing}")
        return obj[key], obj["ch_names"], obj.get("fs"), key
    if isinstance(obj, list | tuple) and len(obj) == 2:
        if key is not None:
            raise InputError(f"{path}: holds one recording; option key={key!r} does not apply")
        return obj[0], obj[1], None, None
    raise InputError(f"{path}: expected spkit's (X, ch_names) pair or its dict of recordings, "
                     f"got {type(obj).__name__}")


def read_spkit(path: str | Path, *, key: str | None = None,
               sfreq: float = SPKIT_SFREQ) -> xr.Dataset:
    """Read one spkit EEG pickle into a contract Dataset (volts, 10-20 positions).

    Parameters
    ----------
    path : path-like
        ``EEG16SecData.pkl`` or ``EEG16sec_artifact.pkl``.
    key : str, optional
        For the artifact file: which version, one of :data:`ARTIFACT_KEYS`
        (default ``"X_raw"``).
    sfreq : float
        Sampling rate in Hz (128 for spkit's Emotiv data; checked against ``fs`` when the
        file stores it).

    Returns
    -------
    xarray.Dataset
        Modality "eeg", channels of type "eeg" in V with head-frame positions.

    Raises
    ------
    InputError
        A refused pickle, an unexpected layout, shapes or names that do not agree.
    """
    from ..synth.head import montage_name, montage_positions

    path = Path(path)
    x, names, fs, key = _unpack(safe_pickle.load(path), path, key)
    if fs is not None and abs(float(fs) - float(sfreq)) > 1e-9:
        raise InputError(f"{path}: stores fs={fs} Hz, but {sfreq:g} Hz was expected")
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype.kind not in "fiu" or 0 in x.shape:
        raise InputError(f"{path}: expected a non-empty 2-D numeric (time, channel) array, got "
                         f"{x.dtype} {x.shape}")
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise InputError(f"{path}: channel names must be a list of strings")
    names = [str(n) for n in names]
    if x.shape[1] != len(names):
        raise InputError(f"{path}: {x.shape[1]} columns for {len(names)} channel names")
    if len(set(names)) != len(names):
        raise InputError(f"{path}: duplicate channel names")
    if not np.isfinite(x).all():
        raise InputError(f"{path}: NaN or Inf samples")
    known = montage_positions()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"{path}: channel(s) {unknown[:5]} are not in the {montage_name()} "
                         "montage")
    ds = schema.build(
        x.astype(np.float64) * _MICROVOLT, sfreq=sfreq, channels=names, channel_types="eeg",
        modality="eeg", units="V", positions=np.array([known[n] for n in names]),
        source=str(path),
    )
    ds.attrs.update(device="Emotiv EPOC", montage=montage_name(), original_units="uV")
    if key is not None:
        ds.attrs["spkit_key"] = key
    return ds
