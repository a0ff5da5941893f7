"""Preprocessing options: per-modality defaults and their validation.

One declaration per modality (:data:`OPTIONS`, :class:`~neurodag.options.Options`
subclasses: type, default, bounds and a one-line doc of each option); the config schema's
``preprocess`` section, ``neurodag preprocess --help`` and :data:`DEFAULTS` (plain JSON)
come from it. :func:`check_options` fills the defaults in and raises a one-line
:class:`~neurodag.errors.ConfigError` naming the key path for an unknown key (with the
closest valid one), a wrong type or a value out of range.

Choices (and why)
-----------------
EEG/MEG band-pass ``[1, 40]`` Hz
    The output band most EEG/MEG pipelines use after ICA; a 1 Hz high-pass also keeps the
    filter short enough (3.3 s) for short clinical or test clips. ICA is always fitted on a
    separate copy filtered to 1-100 Hz (ICLabel's and MEGnet's training band) and average
    referenced (EEG), then applied to the output. For ERPs of long recordings set
    ``bandpass: [0.1, 40]``.
sEEG/ECoG band-pass ``[1, null]``
    High-pass only, so that high gamma stays; line harmonics are notched.
ICA
    On for EEG and MEG with 20 components (what MEGnet expects), off for sEEG/ECoG (no
    labelling network exists for them and bipolar/common-average referencing already
    removes most shared artifacts). FastICA (scikit-learn, 500 iterations) rather than the
    (extended) infomax ICLabel and MEGnet were trained on: MNE's infomax took 30-90 s on a
    60 s, 32-channel EEG here against 3-7 s, picard is not installed, and the labels of
    our synthetic blinks, muscle, heart and saccade components were right with FastICA
    (``ica.method: infomax`` is available). Components are removed where they are active
    (``ica.mode: targeted``, see :func:`neurodag.preprocess.ica.gate`), components labelled
    ``ica.remove`` with probability >= 0.7 (``ica.threshold``). The fit data are a 1-100 Hz
    copy decimated as far as the cap needs without aliasing the band (``ica.decim: null``;
    at most to 250 Hz from 1 kHz) and capped at ``ica.max_samples`` (150 000: 10 minutes at 250
    Hz), as MNE and MNE-BIDS-Pipeline recommend (:mod:`neurodag.preprocess.ica_subset`).
fMRI censoring: FD > 0.5 mm, segments shorter than 5 volumes, no minimum time
    nilearn's ``scrubbing`` values (fMRIPrep's outlier threshold; Power et al. 2014's
    segment rule). Standardised DVARS censors (> 1.5, nilearn's) only with
    ``confounds: scrubbing`` unless set (``std_dvars_threshold: auto``): XCP-D leaves it
    off by default, and DVARS computed from parcels rather than voxels is heavier-tailed
    (on nitime's 31 ROIs 1.5 would censor 54 of 250 volumes). ``min_time: 0`` refuses no
    run unless asked (XCP-D uses 240 s; the reference runs here last 40-54 s).
Calcium baseline: 20th percentile over 180 s
    Slow enough not to follow C. elegans state-dependent activity (reversals and
    forward runs last tens of seconds), short enough to track bleaching.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError
from ..options import Options, fail, option

#: ICLabel classes (EEG) and MEGnet classes (MEG), as mne-icalabel names them.
ICLABEL_CLASSES = ("brain", "muscle artifact", "eye blink", "heart beat", "line noise",
                   "channel noise", "other")
MEGNET_CLASSES = ("brain/other", "eye blink", "heart beat", "eye movement")
#: Classes that are never removed, whatever the options say.
KEEP_CLASSES = ("brain", "other", "brain/other")
ARTIFACT_CLASSES = tuple(c for c in (*ICLABEL_CLASSES, *MEGNET_CLASSES) if c not in KEEP_CLASSES)
#: fMRI confound strategies (or give a list of column names): neurodag's own selections
#: and the named strategies read through nilearn (:mod:`neurodag.preprocess.fmri_confounds`).
CONFOUND_STRATEGIES = ("default", "motion", "all", "none", "simple", "scrubbing", "compcor",
                       "ica_aroma", "24P", "36P")


def _band(value, path):
    low, high = value
    if low is not None and high is not None and low >= high:
        fail(path, f"low edge {low:g} Hz must be below high edge {high:g} Hz")
    return value


def _montage(value, path):
    if value is not None:
        import mne

        choices = mne.channels.get_builtin_montages()
        if value not in choices:
            from ..errors import suggest

            fail(path, f"expected one of {list(choices)}, got {value!r}{suggest(value, choices)}")
    return value


def _remove(value, path):
    for i, label in enumerate(value):
        if label in KEEP_CLASSES:
            fail(f"{path}[{i}]", f"{label!r} components are never removed")
        if label not in ARTIFACT_CLASSES:
            from ..errors import suggest

            fail(f"{path}[{i}]", f"expected one of {list(ARTIFACT_CLASSES)}, got {label!r}"
                                 f"{suggest(label, ARTIFACT_CLASSES)}")
    return value


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _deconvolve(value, path):
    if value and not _importable("oasis.functions"):
        raise ConfigError(f"{path}: needs the package oasis-deconv (GPL-3.0, not a neurodag "
                          "dependency: pip install oasis-deconv), which is not installed")
    return value


def _band_option(default, doc):
    return option(default, doc, gt=0, min_items=2, max_items=2, check=_band)


@dataclass(frozen=True)
class Bads(Options):
    """Bad channels: flat, or noisy by robust z-scores."""

    flat_ratio: float = option(1e-3, "flat: robust amplitude below this fraction of the "
                                     "median channel's", ge=0, le=1)
    z_threshold: float = option(5.0, "noisy: robust z-score of amplitude or of correlation "
                                     "with neighbours above this", gt=0)
    n_neighbours: int = option(4, "neighbours a channel is correlated with", ge=1)
    window: float = option(1.0, "window (s) of the amplitude and correlation statistics", gt=0)
    interpolate: bool = option(True, "interpolate bad channels where positions exist (else "
                                     "drop them)")


@dataclass(frozen=True)
class ICA(Options):
    """ICA and component labelling (ICLabel for EEG, MEGnet for MEG)."""

    enabled: bool = option(True, "fit ICA and remove artifact components")
    method: Literal["infomax", "fastica"] = option("fastica", "ICA algorithm")
    n_components: int = option(20, "components fitted", ge=2)
    random_state: int = option(97, "seed of the ICA fit", ge=0)
    max_iter: int = option(500, "ICA iterations at most", ge=1)
    threshold: float = option(0.7, "a component is removed when its label's probability is "
                                    "at least this", ge=0, le=1)
    remove: list[str] = option(
        ["eye blink", "muscle artifact", "heart beat", "line noise", "channel noise",
         "eye movement"], "component labels removed", check=_remove)
    eog: bool = option(True, "also remove components correlated with EOG channels")
    ecg: bool = option(True, "also remove components correlated with ECG channels")
    mode: Literal["targeted", "full"] = option(
        "targeted", "remove components where they are active (targeted) or everywhere")
    gate_z: float = option(3.0, "targeted mode: activity threshold (robust z-score)", gt=0)
    decim: int | None = option(None, "decimation of the fit data (default: as far as "
                                     "max_samples needs, keeping 1-100 Hz)", ge=1)
    max_samples: int = option(150000, "samples the ICA is fitted on at most (blocks spread "
                                      "over the recording)", ge=1000)


@dataclass(frozen=True)
class EEG(Options):
    """EEG: notch, band-pass, bad channels, average reference, ICA with ICLabel."""

    line_freq: float | None = option(None, "power-line frequency in Hz (default: from the "
                                           "file, else found in the spectrum)", gt=0)
    notch: bool = option(True, "notch the line frequency and its harmonics")
    bandpass: list[float | None] = _band_option([1.0, 40.0], "band-pass [low, high] in Hz "
                                                "(null: no edge)")
    reference: Literal["average", "bipolar", "none"] = option("average", "re-reference")
    montage: str | None = option(None, "an MNE built-in montage for channels without "
                                       "positions", check=_montage)
    bads: Bads = option(Bads(), "bad channels")
    ica: ICA = option(ICA(), "ICA")


@dataclass(frozen=True)
class MEG(EEG):
    """MEG: as EEG, no re-reference, MEGnet labels."""

    reference: Literal["average", "bipolar", "none"] = option("none", "re-reference")


@dataclass(frozen=True)
class SEEG(EEG):
    """sEEG: high-pass only, bipolar along shafts, no ICA."""

    bandpass: list[float | None] = _band_option([1.0, None], "band-pass [low, high] in Hz "
                                                "(null: no edge)")
    reference: Literal["average", "bipolar", "none"] = option("bipolar", "re-reference")
    ica: ICA = option(ICA(enabled=False), "ICA")


@dataclass(frozen=True)
class ECoG(SEEG):
    """ECoG: high-pass only, average reference, no ICA."""

    reference: Literal["average", "bipolar", "none"] = option("average", "re-reference")


@dataclass(frozen=True)
class Censor(Options):
    """fMRI censoring: volumes with too much motion, and the short segments between them."""

    enabled: bool = option(True, "censor volumes (nilearn's sample_mask)")
    fd_threshold: float | None = option(0.5, "framewise displacement (mm) above which a "
                                             "volume is censored (null: not by FD)", gt=0)
    std_dvars_threshold: Literal["auto"] | float | None = option(
        "auto", "standardised DVARS above which a volume is censored (auto: 1.5 with "
                "confounds scrubbing, else off; null: off)", gt=0)
    min_segment: int = option(5, "kept segments shorter than this many volumes are censored "
                                 "too", ge=0)
    min_time: float = option(0.0, "a run with fewer kept seconds is refused", ge=0)


@dataclass(frozen=True)
class FMRI(Options):
    """fMRI: dummy scans, confounds, censoring, detrend, band-pass, standardisation
    (nilearn)."""

    confounds: Literal["default", "motion", "all", "none", "simple", "scrubbing", "compcor",
                       "ica_aroma", "24P", "36P"] | list[str] = option(
        "default", "confound strategy (simple..36P through nilearn's load_confounds), or a "
                   "list of confound column names")
    global_signal: bool = option(False, "also regress the global signal")
    dummy_scans: int | Literal["auto"] = option(
        "auto", "volumes dropped at the start (auto: the non_steady_state_outlier columns)",
        ge=0)
    censor: Censor = option(Censor(), "censoring")
    detrend: bool = option(True, "remove linear trends")
    bandpass: list[float | None] = _band_option([0.01, 0.1], "band-pass [low, high] in Hz "
                                                "(null: no edge)")
    standardize: Literal["zscore_sample", "zscore", "psc", "none"] = option(
        "zscore_sample", "standardisation of each signal")

    def validate(self, where):
        c = self.censor
        if c.std_dvars_threshold == "auto":   # nilearn's scrubbing preset, else off (XCP-D)
            c = dataclasses.replace(c, std_dvars_threshold=1.5 if self.confounds == "scrubbing"
                                    else None)
            object.__setattr__(self, "censor", c)   # resolved while the instance is built
        if c.enabled and c.fd_threshold is None and c.std_dvars_threshold is None:
            fail(f"{where}.censor", "enabled with neither fd_threshold nor "
                                    "std_dvars_threshold; set one or enabled: false")
        if self.confounds == "scrubbing" and not c.enabled:
            fail(f"{where}.censor.enabled", "false contradicts confounds: scrubbing (a "
                                            "strategy that censors); choose another strategy "
                                            "or enable censoring")


@dataclass(frozen=True)
class Calcium(Options):
    """Calcium: neuropil subtraction, dF/F, optional OASIS deconvolution, SNR."""

    neuropil_coef: float = option(0.7, "neuropil subtracted x this (when Fneu is present)",
                                  ge=0, le=1)
    baseline_window: float = option(180.0, "running-percentile baseline window (s)", gt=0)
    baseline_percentile: float = option(20.0, "baseline percentile", ge=0, le=100)
    deconvolve: bool = option(False, "OASIS AR(1) event rates (needs oasis-deconv)",
                              check=_deconvolve)
    tau_decay: float | None = option(None, "decay time (s) for OASIS (default: estimated)",
                                     gt=0)


@dataclass(frozen=True)
class Spikes(Options):
    """Spikes: counts kept; silent units dropped."""

    min_rate: float = option(0.0, "units at or below this rate (Hz) are dropped", ge=0)


#: The options declaration of each modality.
OPTIONS: dict[str, type[Options]] = {
    "eeg": EEG, "meg": MEG, "seeg": SEEG, "ecog": ECoG, "fmri": FMRI, "calcium": Calcium,
    "spikes": Spikes,
}

#: ``{modality: {option: default}}`` as plain JSON; see the module docstring for the choices.
DEFAULTS: dict[str, dict] = {m: cls.defaults() for m, cls in OPTIONS.items()}


def check_options(modality: str, options: Mapping | None = None) -> dict:
    """Fill in the defaults of ``modality`` and check every option.

    Parameters
    ----------
    modality : str
        One of the contract's modalities (a key of :data:`OPTIONS`).
    options : mapping, optional
        User options, nested like :data:`DEFAULTS` (e.g. ``{"ica": {"n_components": 15}}``).

    Returns
    -------
    dict
        A new dict with every option of the modality.

    Raises
    ------
    ConfigError
        One line naming the key path (``preprocess.ica.n_componets``) and the problem;
        an unknown key suggests the closest known one.
    """
    if modality not in OPTIONS:
        raise ConfigError(f"preprocess: unknown modality {modality!r} "
                          f"(expected one of {', '.join(OPTIONS)})")
    return OPTIONS[modality].check(options or {}, "preprocess").to_dict()
