"""Preprocessing options: per-modality defaults and their validation.

:data:`DEFAULTS` holds plain JSON values (the lead copies them into the config schema).
:func:`check_options` fills the defaults in and raises a one-line
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

import copy
import difflib
import importlib
from collections.abc import Mapping

from ..errors import ConfigError

#: ICLabel classes (EEG) and MEGnet classes (MEG), as mne-icalabel names them.
ICLABEL_CLASSES = ("brain", "muscle artifact", "eye blink", "heart beat", "line noise",
                   "channel noise", "other")
MEGNET_CLASSES = ("brain/other", "eye blink", "heart beat", "eye movement")
#: Classes that are never removed, whatever the options say.
KEEP_CLASSES = ("brain", "other", "brain/other")
ARTIFACT_CLASSES = tuple(c for c in (*ICLABEL_CLASSES, *MEGNET_CLASSES) if c not in KEEP_CLASSES)

_BADS = {"flat_ratio": 1e-3, "z_threshold": 5.0, "n_neighbours": 4, "window": 1.0,
         "interpolate": True}
_ICA = {"enabled": True, "method": "fastica", "n_components": 20, "random_state": 97,
        "max_iter": 500, "threshold": 0.7,
        "remove": ["eye blink", "muscle artifact", "heart beat", "line noise", "channel noise",
                   "eye movement"],
        "eog": True, "ecg": True, "mode": "targeted", "gate_z": 3.0,
        "decim": None, "max_samples": 150000}


def _ephys(bandpass, reference, ica_enabled, method="fastica"):
    return {"line_freq": None, "notch": True, "bandpass": bandpass, "reference": reference,
            "montage": None, "bads": dict(_BADS),
            "ica": dict(_ICA, enabled=ica_enabled, method=method,
                        remove=list(_ICA["remove"]))}


#: ``{modality: {option: default}}``; see the module docstring for the choices.
DEFAULTS: dict[str, dict] = {
    "eeg": _ephys([1.0, 40.0], "average", True),
    "meg": _ephys([1.0, 40.0], "none", True),
    "seeg": _ephys([1.0, None], "bipolar", False),
    "ecog": _ephys([1.0, None], "average", False),
    "fmri": {"confounds": "default", "global_signal": False, "dummy_scans": "auto",
             "censor": {"enabled": True, "fd_threshold": 0.5, "std_dvars_threshold": "auto",
                        "min_segment": 5, "min_time": 0.0},
             "detrend": True, "bandpass": [0.01, 0.1], "standardize": "zscore_sample"},
    "calcium": {"neuropil_coef": 0.7, "baseline_window": 180.0, "baseline_percentile": 20.0,
                "deconvolve": False, "tau_decay": None},
    "spikes": {"min_rate": 0.0},
}

#: Values a string option may take (key path -> choices).
CHOICES = {
    "reference": ("average", "bipolar", "none"),
    "ica.method": ("infomax", "fastica"),
    "ica.mode": ("targeted", "full"),
    "standardize": ("zscore_sample", "zscore", "psc", "none"),
}
#: fMRI confound strategies (or give a list of column names): neurodag's own selections
#: and the named strategies read through nilearn (:mod:`neurodag.preprocess.fmri_confounds`).
CONFOUND_STRATEGIES = ("default", "motion", "all", "none", "simple", "scrubbing", "compcor",
                       "ica_aroma", "24P", "36P")


def _fail(path: str, msg: str):
    raise ConfigError(f"preprocess.{path}: {msg}")


def _number(path, value, *, low=None, high=None, low_open=False, integer=False,
            nullable=False):
    if value is None and nullable:
        return None
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer and float(value) != int(value):
        ok = False
    if not ok:
        _fail(path, f"expected {kind}{' or null' if nullable else ''}, got {value!r}")
    given, value = value, int(value) if integer else float(value)
    if value != value or (low is not None and (value <= low if low_open else value < low)) or (
            high is not None and value > high):
        rng = f"{'>' if low_open else '>='} {low:g}" if low is not None else ""
        rng += (" and " if rng and high is not None else "") + (
            f"<= {high:g}" if high is not None else "")
        _fail(path, f"expected {kind} {rng}, got {given!r}")
    return value


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _bool(path, value):
    if not isinstance(value, bool):
        _fail(path, f"expected true or false, got {value!r}")
    return value


def _choice(path, value, choices):
    if value not in choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        _fail(path, f"expected one of {list(choices)}, got {value!r}{hint}")
    return value


def _band(path, value, *, both=False):
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        _fail(path, f"expected [low, high] in Hz (null for no edge), got {value!r}")
    low = _number(f"{path}[0]", value[0], low=0, low_open=True, nullable=not both)
    high = _number(f"{path}[1]", value[1], low=0, low_open=True, nullable=not both)
    if low is not None and high is not None and low >= high:
        _fail(path, f"low edge {low:g} Hz must be below high edge {high:g} Hz")
    return [low, high]


def _merge(path: str, given, defaults: dict) -> dict:
    """Defaults updated with ``given``; unknown keys fail with the closest known one."""
    if not isinstance(given, Mapping):
        _fail(path or "(options)", f"expected a mapping, got {type(given).__name__}")
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in defaults:
            close = difflib.get_close_matches(str(key), list(defaults), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            _fail(where, f"unknown option{hint} (known: {', '.join(defaults)})")
        if isinstance(defaults[key], dict):
            out[key] = _merge(where, value, defaults[key])
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_options(modality: str, options: Mapping | None = None) -> dict:
    """Fill in the defaults of ``modality`` and check every option.

    Parameters
    ----------
    modality : str
        One of the contract's modalities (a key of :data:`DEFAULTS`).
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
    if modality not in DEFAULTS:
        raise ConfigError(f"preprocess: unknown modality {modality!r} "
                          f"(expected one of {', '.join(DEFAULTS)})")
    opts = _merge("", options or {}, DEFAULTS[modality])
    check = _CHECKS[modality]
    check(opts)
    return opts


def _check_ephys(o: dict) -> None:
    _number("line_freq", o["line_freq"], low=0, low_open=True, nullable=True)
    _bool("notch", o["notch"])
    o["bandpass"] = _band("bandpass", o["bandpass"])
    _choice("reference", o["reference"], CHOICES["reference"])
    if o["montage"] is not None and not isinstance(o["montage"], str):
        _fail("montage", f"expected the name of an MNE built-in montage or null, got "
                         f"{o['montage']!r}")
    if isinstance(o["montage"], str):
        import mne

        _choice("montage", o["montage"], mne.channels.get_builtin_montages())
    b = o["bads"]
    b["flat_ratio"] = _number("bads.flat_ratio", b["flat_ratio"], low=0, high=1)
    b["z_threshold"] = _number("bads.z_threshold", b["z_threshold"], low=0, low_open=True)
    b["n_neighbours"] = _number("bads.n_neighbours", b["n_neighbours"], low=1, integer=True)
    b["window"] = _number("bads.window", b["window"], low=0, low_open=True)
    _bool("bads.interpolate", b["interpolate"])
    ica = o["ica"]
    for key in ("enabled", "eog", "ecg"):
        _bool(f"ica.{key}", ica[key])
    _choice("ica.method", ica["method"], CHOICES["ica.method"])
    _choice("ica.mode", ica["mode"], CHOICES["ica.mode"])
    ica["gate_z"] = _number("ica.gate_z", ica["gate_z"], low=0, low_open=True)
    ica["n_components"] = _number("ica.n_components", ica["n_components"], low=2, integer=True)
    ica["random_state"] = _number("ica.random_state", ica["random_state"], low=0, integer=True)
    ica["max_iter"] = _number("ica.max_iter", ica["max_iter"], low=1, integer=True)
    ica["decim"] = _number("ica.decim", ica["decim"], low=1, integer=True, nullable=True)
    ica["max_samples"] = _number("ica.max_samples", ica["max_samples"], low=1000,
                                 integer=True)
    ica["threshold"] = _number("ica.threshold", ica["threshold"], low=0, high=1)
    if not isinstance(ica["remove"], (list, tuple)):
        _fail("ica.remove", f"expected a list of component labels, got {ica['remove']!r}")
    for i, label in enumerate(ica["remove"]):
        if label in KEEP_CLASSES:
            _fail(f"ica.remove[{i}]", f"{label!r} components are never removed")
        _choice(f"ica.remove[{i}]", label, ARTIFACT_CLASSES)
    ica["remove"] = list(ica["remove"])


def _check_fmri(o: dict) -> None:
    conf = o["confounds"]
    if isinstance(conf, str):
        _choice("confounds", conf, CONFOUND_STRATEGIES)
    elif isinstance(conf, (list, tuple)) and all(isinstance(c, str) for c in conf):
        o["confounds"] = list(conf)
    else:
        _fail("confounds", f"expected a strategy ({', '.join(CONFOUND_STRATEGIES)}) or a list "
                           f"of confound names, got {conf!r}")
    _bool("global_signal", o["global_signal"])
    if o["dummy_scans"] != "auto":
        o["dummy_scans"] = _number("dummy_scans", o["dummy_scans"], low=0, integer=True)
    c = o["censor"]
    _bool("censor.enabled", c["enabled"])
    c["fd_threshold"] = _number("censor.fd_threshold", c["fd_threshold"], low=0, low_open=True,
                                nullable=True)
    if c["std_dvars_threshold"] == "auto":   # nilearn's scrubbing preset, else off (XCP-D)
        c["std_dvars_threshold"] = 1.5 if conf == "scrubbing" else None
    c["std_dvars_threshold"] = _number("censor.std_dvars_threshold", c["std_dvars_threshold"],
                                       low=0, low_open=True, nullable=True)
    c["min_segment"] = _number("censor.min_segment", c["min_segment"], low=0, integer=True)
    c["min_time"] = _number("censor.min_time", c["min_time"], low=0)
    if c["enabled"] and c["fd_threshold"] is None and c["std_dvars_threshold"] is None:
        _fail("censor", "enabled with neither fd_threshold nor std_dvars_threshold; set one "
                        "or enabled: false")
    if conf == "scrubbing" and not c["enabled"]:
        _fail("censor.enabled", "false contradicts confounds: scrubbing (a strategy that "
                                "censors); choose another strategy or enable censoring")
    _bool("detrend", o["detrend"])
    o["bandpass"] = _band("bandpass", o["bandpass"])
    _choice("standardize", o["standardize"], CHOICES["standardize"])


def _check_calcium(o: dict) -> None:
    o["neuropil_coef"] = _number("neuropil_coef", o["neuropil_coef"], low=0, high=1)
    o["baseline_window"] = _number("baseline_window", o["baseline_window"], low=0,
                                   low_open=True)
    o["baseline_percentile"] = _number("baseline_percentile", o["baseline_percentile"],
                                       low=0, high=100)
    if _bool("deconvolve", o["deconvolve"]) and not _importable("oasis.functions"):
        raise ConfigError("preprocess.deconvolve: needs the package oasis-deconv (GPL-3.0, "
                          "not a neurodag dependency: pip install oasis-deconv), which is "
                          "not installed")
    o["tau_decay"] = _number("tau_decay", o["tau_decay"], low=0, low_open=True, nullable=True)


def _check_spikes(o: dict) -> None:
    o["min_rate"] = _number("min_rate", o["min_rate"], low=0)


_CHECKS = {"eeg": _check_ephys, "meg": _check_ephys, "seeg": _check_ephys,
           "ecog": _check_ephys, "fmri": _check_fmri, "calcium": _check_calcium,
           "spikes": _check_spikes}
