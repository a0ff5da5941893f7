"""Artifact removal and preprocessing for every modality: ``raw.zarr`` -> ``clean.zarr`` + qc.

>>> from neurodag import preprocess
>>> clean, qc = preprocess.run(ds, bandpass=[1, 40], ica={"n_components": 15})
>>> preprocess.DEFAULTS["eeg"]                     # the defaults, plain JSON
>>> preprocess.check_options("eeg", {"ica": {"threshold": 0.8}})

Per modality (details in each module):

- EEG, MEG, sEEG, ECoG (:mod:`~neurodag.preprocess.ephys_run`): notch at the line
  frequency and its harmonics, band-pass, bad channels (flat; noisy by robust z-scores of
  amplitude and of correlation with neighbours), interpolation or dropping, reference
  (average for EEG and ECoG, bipolar along shafts for sEEG) and ICA with ICLabel (EEG) or
  MEGnet (MEG) labels plus EOG/ECG correlation.
- fMRI (:mod:`~neurodag.preprocess.fmri`): confound regression, detrending, band-pass,
  standardisation with ``nilearn.signal.clean``.
- Calcium (:mod:`~neurodag.preprocess.calcium`): neuropil subtraction, dF/F against a
  running-percentile baseline, optional OASIS deconvolution, per-neuron SNR.
- Spikes (:mod:`~neurodag.preprocess.spikes`): unchanged; firing rates and silent units.

The output keeps the input's attrs (provenance) and adds ``preprocess``: the canonical
JSON of the options used. ``qc`` is a JSON-able dict for ``qc.json``.
"""

from __future__ import annotations

import xarray as xr
from threadpoolctl import threadpool_limits

from .. import schema
from ..errors import ContractError, InputError
from ..provenance import canonical_json
from .options import DEFAULTS, check_options

__all__ = ["DEFAULTS", "check_options", "run"]

_EPHYS = ("eeg", "meg", "seeg", "ecog")


def run(ds: xr.Dataset, **options) -> tuple[xr.Dataset, dict]:
    """Preprocess one session.

    Parameters
    ----------
    ds : xarray.Dataset
        A contract Dataset (lazy from zarr is fine; it is loaded).
    **options
        Options of the session's modality, nested like :data:`DEFAULTS` (for example
        ``bandpass=[1, 40]``, ``ica={"n_components": 15}``); missing ones take the defaults.

    Returns
    -------
    clean : xarray.Dataset
        A contract Dataset of the same modality, with the input's attrs and ``preprocess``
        (JSON of the options used).
    qc : dict
        What was done and found (JSON-able): see each modality's module.

    Raises
    ------
    ConfigError
        An unknown or invalid option, or one inconsistent with the data (a band edge at or
        above Nyquist, ...); one line naming the key.
    InputError
        NaN/Inf samples, all channels flat, a recording shorter than a filter needs, ...;
        one line naming the recording.
    """
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"preprocess: expected a contract xarray.Dataset, got "
                         f"{type(ds).__name__}")
    name = str(ds.encoding.get("source") or ds.attrs.get("source") or "dataset")
    schema.validate(ds, where=name, check_values=False)
    modality = ds.attrs["modality"]
    opts = check_options(modality, options)
    ds = ds.load()
    try:
        schema.validate(ds, where=name, check_values=True)
    except ContractError as e:
        raise InputError(str(e)) from None
    options_json = canonical_json(opts)
    # One BLAS thread: jobs run side by side on few cores, and results do not depend on
    # how many threads a machine offers.
    with threadpool_limits(1):
        clean, qc = _dispatch(ds, modality, opts, options_json)
    header = {
        "modality": modality, "source": str(ds.attrs.get("source", "")),
        "subject": str(ds.attrs["subject"]), "session": str(ds.attrs["session"]),
        "sfreq": float(ds.attrs["sfreq"]), "n_times": int(ds.sizes["time"]),
        "duration_s": int(ds.sizes["time"]) / float(ds.attrs["sfreq"]), "options": opts,
    }
    schema.validate(clean, where=f"{name} (preprocessed)", check_values=False)
    return clean, {**header, **qc}


def _dispatch(ds, modality, opts, options_json):
    if modality in _EPHYS:
        from . import ephys_run

        clean, qc = ephys_run.run(ds, opts, options_json)
    elif modality == "fmri":
        from . import fmri

        clean, qc = fmri.run(ds, opts, options_json)
    elif modality == "calcium":
        from . import calcium

        clean, qc = calcium.run(ds, opts, options_json)
    else:
        from . import spikes

        clean, qc = spikes.run(ds, opts, options_json)
    return clean, qc
