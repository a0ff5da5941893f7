"""Artifact removal and preprocessing for every modality: ``raw.zarr`` -> ``clean.zarr`` + qc.

>>> from neurodag import preprocess
>>> clean, qc = preprocess.run(ds, bandpass=[1, 40], ica={"n_components": 15})
>>> qc = preprocess.write(store.read_signal("raw.zarr"), "clean.zarr")   # streamed
>>> preprocess.DEFAULTS["eeg"]                     # the defaults, plain JSON
>>> preprocess.check_options("eeg", {"ica": {"threshold": 0.8}})

Per modality (details in each module):

- EEG, MEG, sEEG, ECoG (:mod:`~neurodag.preprocess.ephys_run`): notch at the line
  frequency and its harmonics, band-pass, bad channels (flat; noisy by robust z-scores of
  amplitude and of correlation with neighbours), interpolation or dropping, reference
  (average for EEG and ECoG, bipolar along shafts for sEEG) and ICA with ICLabel (EEG) or
  MEGnet (MEG) labels plus EOG/ECG correlation; read, cleaned and written block by block
  (memory flat in the recording's length), ICA fitted on a decimated, capped subset.
- fMRI (:mod:`~neurodag.preprocess.fmri`): dummy scans, confounds (nilearn's named
  strategies or neurodag's selections), censoring by FD / standardised DVARS with
  ``nilearn.signal.clean(sample_mask=...)``, detrending, band-pass, standardisation; the
  sample mask goes into ``clean.zarr``.
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

__all__ = ["DEFAULTS", "check_options", "run", "run_session", "write"]

_EPHYS = ("eeg", "meg", "seeg", "ecog")


def run(ds: xr.Dataset, **options) -> tuple[xr.Dataset, dict]:
    """Preprocess one session in memory.

    Parameters
    ----------
    ds : xarray.Dataset
        A contract Dataset (lazy from zarr is fine; EEG/MEG/sEEG/ECoG are read block by
        block, the other modalities are loaded).
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
    ds, modality, opts, options_json = _prepare(ds, options)
    with threadpool_limits(1):
        if modality in _EPHYS:
            from . import ephys_run

            clean, qc = ephys_run.run(ds, opts, options_json)
        else:
            clean, qc = _dispatch(_loaded(ds), modality, opts, options_json)
    schema.validate(clean, where=f"{_name(ds)} (preprocessed)", check_values=False)
    return clean, {**_header(ds, modality, opts), **qc}


def write(ds: xr.Dataset, path, **options) -> dict:
    """Preprocess one session into the zarr store ``path``; returns the qc dict.

    EEG, MEG, sEEG and ECoG are streamed: read from ``ds`` (open it lazily, with
    :func:`neurodag.store.read_signal`) and written to ``path`` block by block, in memory
    that does not grow with the recording's length. ``path`` is written in place: give a
    temporary path and rename it, as :func:`run_session` does. Options and errors as in
    :func:`run`.
    """
    from .. import store

    ds, modality, opts, options_json = _prepare(ds, options)
    with threadpool_limits(1):
        if modality in _EPHYS:
            from . import ephys_run

            qc = ephys_run.stream(ds, path, opts, options_json)
        else:
            clean, qc = _dispatch(_loaded(ds), modality, opts, options_json)
            store.write_signal(clean, path)
    return {**_header(ds, modality, opts), **qc}


def _name(ds) -> str:
    return str(ds.encoding.get("source") or ds.attrs.get("source") or "dataset")


def _prepare(ds, options):
    """Check the structure and the options; ``(ds, modality, options, options JSON)``."""
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"preprocess: expected a contract xarray.Dataset, got "
                         f"{type(ds).__name__}")
    schema.validate(ds, where=_name(ds), check_values=False)
    modality = ds.attrs["modality"]
    opts = check_options(modality, options)
    # One BLAS thread (threadpool_limits around the work): jobs run side by side on few
    # cores, and results do not depend on how many threads a machine offers.
    return ds, modality, opts, canonical_json(opts)


def _loaded(ds):
    """``ds`` in memory, its samples checked for NaN/Inf (the ephys passes check them)."""
    ds = ds.load()
    try:
        schema.validate(ds, where=_name(ds), check_values=True)
    except ContractError as e:
        raise InputError(str(e)) from None
    return ds


def _header(ds, modality, opts) -> dict:
    return {
        "modality": modality, "source": str(ds.attrs.get("source", "")),
        "subject": str(ds.attrs["subject"]), "session": str(ds.attrs["session"]),
        "sfreq": float(ds.attrs["sfreq"]), "n_times": int(ds.sizes["time"]),
        "duration_s": int(ds.sizes["time"]) / float(ds.attrs["sfreq"]), "options": opts,
    }


def run_session(raw_zarr, out_dir, *, config_digest: str = "", **options) -> dict:
    """Preprocess ``raw_zarr`` into ``out_dir/clean.zarr`` and ``out_dir/qc.json``.

    Both appear or neither. The clean store keeps the recording's ``source`` and records
    the raw store it was made from in ``inputs``; EEG/MEG/sEEG/ECoG are streamed
    (:func:`write`).
    """
    import shutil
    from pathlib import Path

    from .. import provenance, store

    raw_zarr, out_dir = Path(raw_zarr), Path(out_dir)
    ds = provenance.stamp(store.read_signal(raw_zarr), [raw_zarr], keep_source=True,
                          config_digest=config_digest)   # the output keeps the attrs
    prov = ds.attrs
    clean_path, qc_path = out_dir / "clean.zarr", out_dir / "qc.json"
    try:
        with store.atomic_path(clean_path) as tmp:
            qc = write(ds, tmp, **options)
            qc["provenance"] = {k: prov[k] for k in
                                ("source", "source_sha256", "inputs", "config_digest",
                                 "created")}
            store.write_json(qc, qc_path)
    except BaseException:
        shutil.rmtree(clean_path, ignore_errors=True)
        qc_path.unlink(missing_ok=True)
        raise
    return {"clean": clean_path, "qc": qc_path}


def _dispatch(ds, modality, opts, options_json):
    if modality == "fmri":
        from . import fmri

        clean, qc = fmri.run(ds, opts, options_json)
    elif modality == "calcium":
        from . import calcium

        clean, qc = calcium.run(ds, opts, options_json)
    else:
        from . import spikes

        clean, qc = spikes.run(ds, opts, options_json)
    return clean, qc
