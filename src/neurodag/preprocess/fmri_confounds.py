"""fMRI confounds: which regressors, which volumes are dummy scans, which are censored.

:func:`select` returns the regressors and the sample mask that
:func:`nilearn.signal.clean` takes, by one of two routes:

nilearn's strategies (``simple``, ``scrubbing``, ``compcor``, ``ica_aroma``, ``24P``, ``36P``)
    :func:`nilearn.interfaces.fmriprep.load_confounds` with nilearn's own presets
    (``load_confounds_strategy.preset_strategies``; 24P and 36P are the Satterthwaite 2013 /
    Ciric 2017 sets written as ``load_confounds`` parameters). nilearn finds the confounds
    by the fMRIPrep name of the image beside them, which a recording read into a contract
    store no longer has: the table is written back, as it was read (leading ``n/a`` kept),
    with its JSON sidecar, under fMRIPrep names into a temporary folder, and nilearn reads
    it there. Censoring adds ``scrub`` to the strategy with the ``censor`` thresholds; a
    table without ``framewise_displacement``/``std_dvars`` gets them computed
    (:func:`framewise_displacement`, :func:`std_dvars`), and the QC says so.
neurodag's selections (``default``, ``motion``, ``all``, ``none``, a list of columns)
    For confound tables of any layout (no fMRIPrep names needed): the columns chosen, plus
    one-hot outlier columns for dummy scans and censored volumes, handed to nilearn's
    lower-level ``load_confounds_utils.prepare_output`` (outlier columns -> sample mask,
    first-row NaN, demeaning over kept volumes) and ``load_confounds_scrub.optimize_scrub``
    (Power 2014's short-segment rule), so both routes give the same kind of result.

Dummy scans: ``auto`` takes the ``non_steady_state_outlier*`` columns (as nilearn always
does), a number drops that many leading volumes instead. Global signal is regressed only
with ``global_signal: true`` (or the 36P set, which is defined with it).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, one_line

MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
COMPCOR = tuple(f"a_comp_cor_{i:02d}" for i in range(5))
#: Strategies read through nilearn.interfaces.fmriprep.load_confounds.
NILEARN = ("simple", "scrubbing", "compcor", "ica_aroma", "24P", "36P")
#: 24P (6 motion + derivatives + squares of both) and 36P (the same for motion, WM, CSF and
#: global signal) with the high-pass cosines, as ``load_confounds`` parameters.
EXTRA_PRESETS = {
    "24P": {"strategy": ("high_pass", "motion"), "motion": "full", "demean": True},
    "36P": {"strategy": ("high_pass", "motion", "wm_csf", "global_signal"), "motion": "full",
            "wm_csf": "full", "global_signal": "full", "demean": True},
}
#: Columns that measure quality rather than model noise (never regressed by ``all``).
QC_COLUMNS = ("framewise_displacement", "dvars", "std_dvars", "rmsd")
_IMG = "sub-01_task-x_desc-preproc_bold.nii.gz"
_AROMA_IMG = "sub-01_task-x_space-MNI152NLin6Asym_desc-smoothAROMAnonaggr_bold.nii.gz"
_TSV = "sub-01_task-x_desc-confounds_timeseries.tsv"


@dataclass
class Selection:
    """Regressors (demeaned, one row per volume, or None) and the volumes kept."""

    regressors: pd.DataFrame | None
    kept: np.ndarray
    route: str
    dummy: list[int] = field(default_factory=list)
    dummy_how: str = ""
    spike_columns: list[str] = field(default_factory=list)
    censored: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def table(ds) -> pd.DataFrame:
    """The recording's confounds as the file had them (leading n/a restored), or empty."""
    n = ds.sizes["time"]
    if "confounds" not in ds:
        return pd.DataFrame(index=range(n))
    conf = pd.DataFrame(np.asarray(ds["confounds"].values, dtype=np.float64),
                        columns=ds["confound"].values.astype(str))
    rows = json.loads(ds["confounds"].attrs.get("filled_leading_rows", "{}"))
    for col, k in rows.items():
        if col in conf:
            conf.loc[: int(k) - 1, col] = np.nan
    return conf


def framewise_displacement(conf: pd.DataFrame) -> tuple[np.ndarray | None, str]:
    """FD in mm (NaN for the first volume): the table's column, else Power et al. 2012's."""
    if "framewise_displacement" in conf:
        return conf["framewise_displacement"].to_numpy(float), "confounds column"
    if all(m in conf for m in MOTION):
        d = np.abs(np.diff(conf[list(MOTION)].to_numpy(float), axis=0))
        fd = np.r_[np.nan, d[:, :3].sum(1) + 50.0 * d[:, 3:].sum(1)]
        return fd, "computed from the motion columns (Power 2012, rotations on a 50 mm sphere)"
    return None, "no motion columns"


def std_dvars(x: np.ndarray) -> np.ndarray:
    """Standardised DVARS of ``(time, channel)`` signals (NaN for the first volume).

    Written here because the reference implementation (nipype's ``compute_dvars``, which
    fMRIPrep uses) is not a dependency and nilearn has none: DVARS (Power 2012) divided by
    its expected value under temporal autocorrelation (Nichols 2013): channel SDs from the
    interquartile range / 1.349 (FSL's "lower" percentiles), lag-1 autocorrelation by
    Yule-Walker, constant channels left out.
    """
    x = np.asarray(x, dtype=np.float64)
    q75, q25 = np.percentile(x, [75, 25], axis=0, method="lower")
    sd = (q75 - q25) / 1.349
    keep = sd > 0
    if not keep.any() or x.shape[0] < 3:
        return np.full(x.shape[0], np.nan)
    x, sd = x[:, keep], sd[keep]
    xc = x - x.mean(axis=0)
    ar1 = (xc[1:] * xc[:-1]).sum(axis=0) / (xc * xc).sum(axis=0)
    expected = (np.sqrt(2.0 * (1.0 - ar1)) * sd).mean()
    dvars = np.sqrt(np.mean(np.diff(x, axis=0) ** 2, axis=1))
    return np.r_[np.nan, dvars / expected]


def dummy_scans(conf: pd.DataFrame, option, n: int, name: str) -> tuple[list[int], str]:
    """Leading volumes to drop: from ``non_steady_state_outlier*`` (``auto``) or a number."""
    if option == "auto":
        cols = [c for c in conf if c.startswith("non_steady_state")]
        if not cols:
            return [], "no non_steady_state_outlier columns"
        return np.flatnonzero(conf[cols].to_numpy().sum(axis=1) > 0).tolist(), \
            f"{len(cols)} non_steady_state_outlier column(s)"
    if option >= n:
        raise InputError(f"{name}: dummy_scans={option} leaves none of the {n} volumes")
    return list(range(int(option))), "option dummy_scans"


def outliers(fd, dvars, censor: dict) -> dict[str, np.ndarray]:
    """Volumes over the FD and standardised-DVARS thresholds (first volume never)."""
    out = {}
    for key, series in (("fd", fd), ("dvars", dvars)):
        thr = censor[f"{key if key == 'fd' else 'std_dvars'}_threshold"]
        if thr is not None and series is not None:
            out[key] = np.flatnonzero(np.nan_to_num(series, nan=-np.inf) > thr)
    return out


def select(ds, x: np.ndarray, opts: dict, name: str) -> tuple[Selection, dict]:
    """Regressors and sample mask of one run; see the module docstring.

    Returns the :class:`Selection` and the QC traces ``{"fd": (values, source),
    "dvars": (values, source)}`` (values None when unavailable).
    """
    conf = table(ds)
    n = ds.sizes["time"]
    fd, fd_source = framewise_displacement(conf)
    if "std_dvars" in conf:
        dvars, dvars_source = conf["std_dvars"].to_numpy(float), "confounds column std_dvars"
    else:
        dvars = std_dvars(x)
        dvars_source = "computed from the signal (Nichols 2013 standardisation)"
    traces = {"fd": (fd, fd_source), "dvars": (dvars, dvars_source)}
    dummy, dummy_how = dummy_scans(conf, opts["dummy_scans"], n, name)
    censor = opts["censor"]
    found = outliers(fd, dvars, censor) if censor["enabled"] else {}
    strategy = opts["confounds"]
    if isinstance(strategy, str) and strategy in NILEARN:
        sel = _nilearn(conf, ds, strategy, opts, traces, name)
    else:
        sel = _own(conf, strategy, opts, found, dummy, name)
    if opts["dummy_scans"] != "auto":
        sel.kept[dummy] = False
    sel.dummy, sel.dummy_how = dummy, dummy_how
    flagged = set(dummy)
    for key, idx in found.items():
        sel.censored[key] = [int(i) for i in idx if i not in set(dummy)]
        flagged |= set(idx.tolist())
    spikes = conf[[c for c in sel.spike_columns]].to_numpy().sum(axis=1) > 0 \
        if sel.spike_columns else np.zeros(n, dtype=bool)
    sel.censored["spike_columns"] = [int(i) for i in np.flatnonzero(spikes)
                                     if i not in flagged]
    flagged |= set(np.flatnonzero(spikes).tolist())
    removed = np.flatnonzero(~sel.kept)
    # the rest: short segments between censored volumes (min_segment, Power 2014)
    sel.censored["segment"] = [int(i) for i in removed if i not in flagged]
    if censor["enabled"] and fd is None and censor["fd_threshold"] is not None:
        sel.notes.append("no framewise displacement (no motion columns): FD censoring skipped")
    return sel, traces


def confound_columns(strategy, conf: pd.DataFrame, global_signal: bool, name: str) -> list[str]:
    """The columns a neurodag selection (or list) takes from ``conf``."""
    available = list(conf.columns)
    if isinstance(strategy, list):
        missing = [c for c in strategy if c not in available]
        if missing:
            raise InputError(f"{name}: confound(s) {missing} not in the recording "
                             f"(available: {', '.join(available) or 'none'})")
        cols = list(strategy)
    elif strategy == "all":
        cols = [c for c in available if c not in QC_COLUMNS
                and not c.startswith("non_steady_state") and not c.startswith("global_signal")]
    else:
        motion = [c for m in MOTION for c in (m, f"{m}_derivative1") if c in available]
        compcor = [c for c in COMPCOR if c in available]
        # CompCor components are computed after a cosine high-pass: regress those with them.
        cosines = [c for c in available if c.startswith("cosine")] if compcor else []
        cols = {"default": motion + compcor + cosines, "motion": motion, "none": []}[strategy]
    if global_signal and "global_signal" not in cols:
        if "global_signal" not in available:
            raise InputError(f"{name}: global_signal: true but the confounds have no "
                             "global_signal column")
        cols.append("global_signal")
    return cols


def _one_hot(volumes, n: int, prefix: str) -> pd.DataFrame:
    eye = np.zeros((n, len(volumes)))
    eye[np.asarray(volumes, dtype=int), np.arange(len(volumes))] = 1.0
    return pd.DataFrame(eye, columns=[f"{prefix}_{i:03d}" for i in range(len(volumes))])


def _own(conf, strategy, opts, found, dummy, name) -> Selection:
    from nilearn.interfaces.fmriprep.load_confounds_scrub import optimize_scrub
    from nilearn.interfaces.fmriprep.load_confounds_utils import prepare_output

    n = len(conf)
    cols = confound_columns(strategy, conf, opts["global_signal"], name)
    parts = [conf[cols]]
    if opts["dummy_scans"] == "auto":
        parts.append(conf[[c for c in conf if c.startswith("non_steady_state")
                           and c not in cols]])
    else:
        parts.append(_one_hot(dummy, n, "non_steady_state_outlier"))
    if found:
        idx = np.unique(np.concatenate(list(found.values())))
        segment = opts["censor"]["min_segment"]
        if idx.size and segment > 0:
            idx = optimize_scrub(idx, n, segment)
        parts.append(_one_hot(idx, n, "motion_outlier_censor"))
    selected = pd.concat(parts, axis=1)
    kept = np.ones(n, dtype=bool)
    regressors = None
    if selected.shape[1]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all volumes censored: ours below
            mask, regressors = prepare_output(selected.copy(), demean=True)
        if mask is not None:
            kept[:] = False
            kept[mask] = True
        if regressors.size == 0:
            regressors = None
        else:
            # prepare_output fills a first-row NaN; longer leading gaps (rare) take 0 for
            # derivatives and the column mean otherwise, as before censoring existed.
            regressors = regressors.fillna({c: 0.0 if "derivative" in c else
                                            regressors[c].mean() for c in regressors})
    return Selection(regressors, kept, route="neurodag selection + nilearn prepare_output",
                     spike_columns=[c for c in cols if "motion_outlier" in c],
                     notes=[] if cols or strategy == "none" else
                     [f"no confounds of strategy {strategy!r} in the recording: "
                      "detrending, band-pass and standardisation only"])


def _nilearn_params(strategy: str, conf: pd.DataFrame, ds, opts: dict, name: str) -> dict:
    from nilearn.interfaces.fmriprep.load_confounds_strategy import preset_strategies

    params = dict(preset_strategies.get(strategy) or EXTRA_PRESETS[strategy])
    params["strategy"] = [s for s in params["strategy"] if s != "scrub"]
    for key in [k for k, v in params.items() if v is None]:
        params.pop(key)   # nilearn's presets hold global_signal=None
    if strategy == "ica_aroma":
        source = str(ds.attrs.get("source", ""))
        if "desc-smoothAROMAnonaggr" in source:
            params["ica_aroma"] = "full"
        elif any("aroma" in c for c in conf):
            params["ica_aroma"] = "basic"
        else:
            raise InputError(f"{name}: confounds: ica_aroma needs ICA-AROMA outputs: a "
                             "*desc-smoothAROMAnonaggr_bold image or aroma_motion_* columns")
    if opts["global_signal"] and "global_signal" not in params["strategy"]:
        params["strategy"].append("global_signal")
        params["global_signal"] = "basic"
    c = opts["censor"]
    if c["enabled"]:
        params["strategy"].append("scrub")
        inf = float("inf")
        params.update(scrub=c["min_segment"],
                      fd_threshold=inf if c["fd_threshold"] is None else c["fd_threshold"],
                      std_dvars_threshold=inf if c["std_dvars_threshold"] is None
                      else c["std_dvars_threshold"])
    return params


def _nilearn(conf, ds, strategy, opts, traces, name) -> Selection:
    from nilearn.interfaces.fmriprep import load_confounds

    params = _nilearn_params(strategy, conf, ds, opts, name)
    out = conf.copy()
    notes = []
    if opts["censor"]["enabled"]:
        for col, key in (("framewise_displacement", "fd"), ("std_dvars", "dvars")):
            values, source = traces[key]
            if col not in out:
                out[col] = np.nan_to_num(values, nan=0.0) if values is not None else 0.0
                notes.append(f"{col} {source}" if values is not None else
                             f"no {col}: not censored by it")
    if opts["dummy_scans"] != "auto":
        out = out[[c for c in out if not c.startswith("non_steady_state")]]
    meta = ds["confounds"].attrs.get("fmriprep_json", "{}") if "confounds" in ds else "{}"
    img = _AROMA_IMG if params.get("ica_aroma") == "full" else _IMG
    with tempfile.TemporaryDirectory(prefix="neurodag-confounds-") as tmp:
        tsv = Path(tmp) / _TSV
        out.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
        tsv.with_suffix(".json").write_text(meta, encoding="utf-8")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all censored: ours below
                regressors, mask = load_confounds(str(Path(tmp) / img), **params)
        except ValueError as e:
            raise InputError(f"{name}: confounds strategy {strategy!r} "
                             f"(nilearn load_confounds): {one_line(e)}") from None
    kept = np.ones(len(conf), dtype=bool)
    if mask is not None:
        kept[:] = False
        kept[np.asarray(mask, dtype=int)] = True
    if regressors is not None and regressors.size == 0:
        regressors = None
    shown = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
    return Selection(regressors, kept, notes=notes,
                     route=f"nilearn.interfaces.fmriprep.load_confounds({json.dumps(shown)})")
