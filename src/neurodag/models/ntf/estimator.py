"""Dynamic functional connectome: affinity tensor, non-negative tensor factorization, communities.

Method of Dyballa et al. (ICLR 2024), "Learning dynamic representations of the functional
connectome in neurobiological networks":

1. pairwise affinities of neuron traces in sliding windows, from time derivatives
   (co-increasing and co-decreasing activity): the tensor (pair, window, animal); the
   exact kernel, the symmetry (pairs i < j) and the handling of missing neurons and
   windows are in :mod:`neurodag.models.ntf.affinity`;
2. non-negative CP decomposition by HALS (:mod:`neurodag.models.ntf.hals`): each factor
   is an affinity pattern over neuron pairs (a symmetric neuron x neuron matrix), a
   temporal loading (window) and an animal loading; unobserved entries have zero weight;
3. rank from reconstruction error and stability across random restarts
   (:mod:`neurodag.models.ntf.rank`, rule documented there);
4. weighted community detection on each factor's affinity matrix
   (:mod:`neurodag.models.ntf.communities`: Leiden by default, Louvain, or a degree-corrected
   SBM when graspologic is installed).

>>> m = DynamicConnectome(window=60, step=30, ranks=range(2, 8), random_state=0)
>>> m.fit(traces)            # list of (T, N) arrays, or a homogenized (session, time, neuron) stack
>>> m.affinity_, m.temporal_, m.animal_, m.communities_, m.rank_
>>> results, metrics = run(stacked, window=60)      # {rank: Dataset}, rank-selection curve

Output normalisation: each factor's pair loading, temporal loading and animal loading have
unit L2 norm and ``weights_`` holds the scale; factors are sorted by weight.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ... import __version__, provenance
from ...errors import ConfigError, InputError, check_known
from . import communities as comm
from .affinity import AffinityTensor, affinity_tensor, pairs_to_matrix
from .hals import CPResult
from .rank import DROP_RATIO, STABILITY_MIN, check_ranks, fit_restarts, rank_curve

KERNEL = ("A_ij(w, a) = max(0, mean over the window's samples t of u_i(t) u_j(t)), u = "
          "Savitzky-Golay time derivative scaled to unit RMS per neuron and recording")


class DynamicConnectome:
    """Dynamic functional connectome by non-negative tensor factorization.

    Parameters
    ----------
    window : int
        Window length in samples (of the input's time grid).
    step : int, optional
        Hop between windows in samples; default half a window.
    rank : int, optional
        Number of factors; None chooses it from ``ranks`` (:mod:`~neurodag.models.ntf.rank`).
    ranks : iterable of int
        Candidate ranks when ``rank`` is None.
    n_restarts : int
        Random initialisations per rank; the lowest-error fit is kept.
    community : {"leiden", "louvain", "sbm"}
        Community detection on each factor (:func:`neurodag.models.ntf.communities.detect`).
    resolution : float
        Modularity resolution for Leiden and Louvain.
    smooth : int or None
        Savitzky-Golay length (odd samples) of the derivative; None: central differences.
    stability_min, drop_ratio : float
        Rank-selection thresholds.
    n_iter_max, tol : int, float
        HALS stopping rule (iterations, relative error decrease).
    min_animals : int
        Neurons present in fewer animals are left out of the tensor (and of the output).
    random_state : int
        Seed of the restarts and of the community detection.

    Attributes
    ----------
    affinity_ : ndarray (R, N, N)
        Affinity pattern of each factor: symmetric, zero diagonal, its pair loadings (upper
        triangle) of unit L2 norm.
    temporal_ : ndarray (R, W)
    animal_ : ndarray (R, A)
    weights_ : ndarray (R,)
    communities_ : list of R int arrays (N,)
        Community of every neuron in each factor (-1: no affinity in that factor).
    rank_ : int
    error_ : float
        Relative reconstruction error of the selected model over the observed entries.
    rank_curve_ : dict or None
        The rank-selection curve (None when ``rank`` was given).
    models_ : dict
        ``{rank: CPResult}``: the best fit at every rank tried.
    neurons_, animals_ : list of str
    window_start_ : ndarray (W,)
        First sample of each window; ``window_time_`` its centre in s when times are known.
    """

    def __init__(self, window: int = 60, step: int | None = None, rank: int | None = None,
                 ranks: Sequence[int] = range(2, 12), n_restarts: int = 10,
                 community: str = "leiden", resolution: float = 1.0, smooth: int | None = 5,
                 stability_min: float = STABILITY_MIN, drop_ratio: float = DROP_RATIO,
                 n_iter_max: int = 500, tol: float = 1e-6, min_animals: int = 1,
                 random_state: int = 0):
        self.window = window
        self.step = step
        self.rank = rank
        self.ranks = ranks
        self.n_restarts = n_restarts
        self.community = community
        self.resolution = resolution
        self.smooth = smooth
        self.stability_min = stability_min
        self.min_animals = min_animals
        self.drop_ratio = drop_ratio
        self.n_iter_max = n_iter_max
        self.tol = tol
        self.random_state = random_state

    # -- inputs ------------------------------------------------------------------------

    def _inputs(self, recordings, mask):
        """Traces (valid samples), mask, neuron and animal names, sample step (s)."""
        if isinstance(recordings, xr.Dataset):
            return _from_stack(recordings)
        if isinstance(recordings, np.ndarray) and recordings.ndim == 2:
            recordings = [recordings]
        if not isinstance(recordings, (list, tuple)) or not recordings:
            raise InputError("ntf: expected a non-empty list of (time, neuron) arrays or a "
                             "homogenized (session, time, neuron) Dataset")
        traces = []
        for k, x in enumerate(recordings):
            x = np.asarray(x, dtype=np.float64)
            if x.ndim != 2:
                raise InputError(f"ntf: recording {k}: expected a (time, neuron) array, got "
                                 f"{x.ndim}-D")
            if not np.isfinite(x).all():
                raise InputError(f"ntf: recording {k}: NaN or Inf values (mark absent "
                                 "neurons with mask= instead)")
            traces.append(x)
        n = {x.shape[1] for x in traces}
        if len(n) > 1:
            raise InputError(f"ntf: recordings have different numbers of neurons {sorted(n)}")
        n = n.pop()
        if mask is None:
            mask = np.ones((len(traces), n), bool)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(traces), n):
            raise InputError(f"ntf: mask has shape {mask.shape}, expected ({len(traces)}, {n})")
        neurons = [f"n{i}" for i in range(n)]
        animals = [f"animal{k}" for k in range(len(traces))]
        return traces, mask, neurons, animals, None

    def _check(self):
        if self.rank is not None:
            ranks = check_ranks([self.rank])
        else:
            ranks = check_ranks(self.ranks)
        if int(self.n_restarts) < 1:
            raise InputError(f"ntf: n_restarts must be at least 1, got {self.n_restarts}")
        comm.check_method(self.community)
        return ranks

    # -- fitting ------------------------------------------------------------------------

    def fit(self, recordings, mask=None, progress=None) -> DynamicConnectome:
        """Build the affinity tensor, factorise it, choose the rank, find communities.

        Parameters
        ----------
        recordings : list of ndarray (T_a, N) or xarray.Dataset
            One array per animal (finite values; lengths may differ) or a homogenized
            stack (:func:`neurodag.homogenize.worms.stack`) with ``activity``, ``mask``
            and ``valid``: only labelled neurons present in at least ``min_animals``
            sessions are used, and each session's valid span.
        mask : ndarray of bool (A, N), optional
            Neurons each array-animal has (ignored for a Dataset, which has its own).
        progress : callable, optional
            Called with a line of text after each rank.
        """
        ranks = self._check()
        traces, mask, neurons, animals, dt = self._inputs(recordings, mask)
        keep = mask.sum(0) >= int(self.min_animals)
        if keep.sum() < 2:
            raise InputError(f"ntf: fewer than 2 neurons are present in at least "
                             f"{self.min_animals} animal(s)")
        traces = [x[:, keep] for x in traces]
        mask = mask[:, keep]
        self.neurons_ = [n for n, k in zip(neurons, keep, strict=True) if k]
        self.animals_ = list(animals)
        t0 = time.perf_counter()
        ten = affinity_tensor(traces, mask, window=self.window, step=self.step,
                              smooth=self.smooth, names=animals,
                              sample_masks=_sample_masks(recordings, traces))
        self.tensor_info_ = {"shape": list(ten.shape), "window": ten.window, "step": ten.step,
                             "affinity_seconds": time.perf_counter() - t0}
        self.window_start_ = ten.starts
        self.window_time_ = (None if dt is None
                             else (ten.starts + (ten.window - 1) / 2.0) * dt)
        self._dt = dt
        rng = np.random.default_rng(self.random_state)
        opts = dict(m0=ten.pair_observed, m1=ten.window_observed,
                    n_iter_max=self.n_iter_max, tol=self.tol)
        if not ten.pair_observed.all() or not ten.window_observed.all():
            self.tensor_info_["observed_fraction"] = float(
                np.einsum("pa,wa->", ten.pair_observed.astype(float), ten.window_observed.astype(float)) / np.prod(ten.shape))
        else:
            opts.update(m0=None, m1=None)
        t0 = time.perf_counter()
        if self.rank is not None or len(ranks) == 1:
            best, _ = fit_restarts(ten.values, ranks[0], n_restarts=self.n_restarts, rng=rng,
                                   **opts)
            self.rank_, self.rank_curve_, self.models_ = ranks[0], None, {ranks[0]: best}
        else:
            self.rank_, self.rank_curve_, self.models_ = rank_curve(
                ten.values, ranks, n_restarts=self.n_restarts, rng=rng,
                stability_min=self.stability_min, drop_ratio=self.drop_ratio, progress=progress,
                **opts)
        self.tensor_info_["factorization_seconds"] = time.perf_counter() - t0
        self._tensor = ten
        self._set_model(self.models_[self.rank_])
        return self

    def _set_model(self, model: CPResult) -> None:
        n = self._tensor.n_neurons
        pairs, temporal, animal = model.factors
        self.affinity_ = pairs_to_matrix(pairs.T, n)
        self.temporal_ = temporal.T.copy()
        self.animal_ = animal.T.copy()
        self.weights_ = model.weights.copy()
        self.error_ = float(model.error)
        self.n_iter_ = int(model.n_iter)
        self.communities_ = self.find_communities(self.affinity_)

    def find_communities(self, affinity: np.ndarray) -> list[np.ndarray]:
        """Communities of each ``(N, N)`` matrix in ``affinity`` with this model's method."""
        return [comm.detect(a, self.community, seed=int(self.random_state),
                            resolution=float(self.resolution)) for a in affinity]

    # -- output -------------------------------------------------------------------------

    def to_xarray(self, rank: int | None = None) -> xr.Dataset:
        """The model at ``rank`` (default the selected one) as a Dataset with named dims.

        Variables: ``affinity`` (factor, neuron, neuron2), ``temporal`` (factor, window),
        ``animal_loading`` (factor, animal), ``weight`` (factor), ``community``
        (factor, neuron); coords ``window_start`` (samples) and ``window_time`` (s, the
        window's centre, when the input had times); attrs: kernel, window, step, rank,
        error, selected rank, stability at this rank.
        """
        if not hasattr(self, "models_"):
            raise InputError("ntf: fit the model before asking for its results")
        rank = self.rank_ if rank is None else int(rank)
        if rank not in self.models_:
            raise InputError(f"ntf: no model of rank {rank}; fitted ranks {sorted(self.models_)}")
        if rank == self.rank_:
            aff, tem, ani, wts = self.affinity_, self.temporal_, self.animal_, self.weights_
            coms, err, n_iter = self.communities_, self.error_, self.n_iter_
        else:
            m = self.models_[rank]
            aff = pairs_to_matrix(m.factors[0].T, self._tensor.n_neurons)
            tem, ani, wts = m.factors[1].T, m.factors[2].T, m.weights
            coms, err, n_iter = self.find_communities(aff), m.error, m.n_iter
        names = np.asarray(self.neurons_, dtype=object)
        coords = {
            "factor": np.arange(rank), "neuron": names, "neuron2": names.copy(),
            "window": np.arange(tem.shape[1]),
            "window_start": ("window", np.asarray(self.window_start_)),
            "animal": np.asarray(self.animals_, dtype=object),
        }
        if self.window_time_ is not None:
            coords["window_time"] = ("window", np.asarray(self.window_time_), {"units": "s"})
        curve = self.rank_curve_
        stab = (curve["stability"][curve["ranks"].index(rank)] if curve is not None else None)
        ds = xr.Dataset(
            {
                "affinity": (("factor", "neuron", "neuron2"), aff),
                "temporal": (("factor", "window"), tem),
                "animal_loading": (("factor", "animal"), ani),
                "weight": ("factor", wts),
                "community": (("factor", "neuron"), np.stack(coms).astype(np.int64)),
            },
            coords=coords,
            attrs={
                "model": "dynamic functional connectome (non-negative CP of affinities)",
                "kernel": KERNEL, "window": int(self._tensor.window),
                "step": int(self._tensor.step), "smooth": "none" if self.smooth is None
                else int(self.smooth), "rank": rank, "selected_rank": int(self.rank_),
                "error": float(err), "n_iter": int(n_iter),
                "stability": float(stab) if stab is not None else np.nan,
                "community_method": self.community, "resolution": float(self.resolution),
                "n_restarts": int(self.n_restarts), "random_state": int(self.random_state),
                "normalisation": "unit L2 norm per factor and mode; scale in 'weight'",
                "neurodag_version": __version__, "created": provenance.now(),
            },
        )
        ds["community"].attrs["description"] = "community per factor; -1: no affinity"
        return ds


def _sample_masks(recordings, traces) -> list[np.ndarray] | None:
    """The stack's ``sample_mask`` (session, time) over each session's valid span."""
    if not isinstance(recordings, xr.Dataset) or "sample_mask" not in recordings:
        return None
    m = np.asarray(recordings["sample_mask"].values, dtype=bool)
    return [m[k, :len(x)] for k, x in enumerate(traces)]


def window_means(stacked: xr.Dataset, name: str, starts, window: int) -> np.ndarray:
    """``(session, window)`` mean of a per-sample variable (session, time) over each window."""
    v = np.asarray(stacked[name].values, dtype=np.float64)
    return np.stack([[np.nanmean(row[s:s + window]) if np.isfinite(row[s:s + window]).any()
                      else np.nan for s in starts] for row in v])


def motion_correlation(temporal: np.ndarray, fd: np.ndarray, observed: np.ndarray) -> list:
    """Pearson r of each factor's temporal loading (factor, window) with the windows' mean
    framewise displacement, over the observed windows with an FD (None when undefined)."""
    ok = observed & np.isfinite(fd)
    out = []
    for t in temporal:
        a, b = t[ok], fd[ok]
        out.append(float(np.corrcoef(a, b)[0, 1]) if ok.sum() > 2 and np.ptp(a) > 0
                   and np.ptp(b) > 0 else None)
    return out


def _from_stack(ds: xr.Dataset):
    need = {"activity", "mask", "valid"}
    missing = sorted(need - set(ds.data_vars))
    if missing:
        raise InputError(f"ntf: the stack lacks variable(s) {missing}; expected a homogenized "
                         "(session, time, neuron) Dataset")
    if ds["activity"].dims != ("session", "time", "neuron"):
        raise InputError(f"ntf: activity has dims {ds['activity'].dims}, expected "
                         "('session', 'time', 'neuron')")
    labelled = (ds["labelled"].values.astype(bool) if "labelled" in ds.coords
                else np.ones(ds.sizes["neuron"], bool))
    ds = ds.isel(neuron=np.flatnonzero(labelled))
    act = np.asarray(ds["activity"].values, dtype=np.float64)
    valid = np.asarray(ds["valid"].values, dtype=bool)
    mask = np.asarray(ds["mask"].values, dtype=bool)
    traces = []
    for s in range(act.shape[0]):
        n = int(valid[s].sum())
        if not valid[s, :n].all():
            raise InputError(f"ntf: session {ds['session'].values[s]}: valid is not a prefix "
                             "of the time axis")
        x = act[s, :n]
        if not np.isfinite(x).all():
            raise InputError(f"ntf: session {ds['session'].values[s]}: NaN or Inf activity")
        traces.append(x * mask[s][None, :])
    dt = float(ds.attrs["dt"]) if "dt" in ds.attrs else (
        float(np.median(np.diff(ds["time"].values))) if ds.sizes["time"] > 1 else None)
    return (traces, mask, [str(v) for v in ds["neuron"].values],
            [str(v) for v in ds["session"].values], dt)


#: Options :func:`run` accepts (the constructor's parameters).
OPTIONS = ("window", "step", "rank", "ranks", "n_restarts", "community", "resolution", "smooth",
           "stability_min", "drop_ratio", "n_iter_max", "tol", "min_animals", "random_state")


def run(stacked: xr.Dataset, progress=None, **options) -> tuple[dict[int, xr.Dataset], dict]:
    """Fit the dynamic connectome of a homogenized stack (the DAG's ``fit_ntf`` step).

    Parameters
    ----------
    stacked : xarray.Dataset
        ``results/{dataset}/homogenized.zarr`` (:func:`neurodag.homogenize.worms.stack`).
    **options
        :class:`DynamicConnectome` parameters (:data:`OPTIONS`); ``window`` and ``step``
        may also be given in seconds as ``window_s`` / ``step_s`` (rounded to samples of
        the stack's ``dt``).

    Returns
    -------
    results : dict
        ``{rank: Dataset}`` for every rank fitted (:meth:`DynamicConnectome.to_xarray`),
        to be written as ``models/ntf/rank{r}.nc``.
    metrics : dict
        ``rank`` (selected), the rank-selection curve (``ranks``, ``error``,
        ``stability``, ``gain``, ...), tensor shape, timing, number of communities per
        factor of the selected model, neurons and animals used.
    """
    options = dict(options)
    for key in ("window_s", "step_s"):
        if key in options:
            dt = float(stacked.attrs.get("dt", 0) or 0)
            if dt <= 0:
                raise ConfigError(f"ntf: {key} needs the stack's 'dt' attribute")
            options[key[:-2]] = max(1, int(round(float(options.pop(key)) / dt)))
    check_known("ntf", options, OPTIONS)
    model = DynamicConnectome(**options).fit(stacked, progress=progress)
    results = {r: model.to_xarray(r) for r in sorted(model.models_)}
    for ds in results.values():
        ds.attrs.update(source=str(stacked.attrs.get("source", "memory")),
                        source_sha256=str(stacked.attrs.get("source_sha256", "")))
    if "framewise_displacement" in stacked:
        _add_motion(stacked, model, results)
    metrics = {
        "rank": int(model.rank_),
        "curve": model.rank_curve_,
        "error": model.error_,
        "tensor": model.tensor_info_,
        "n_neurons": len(model.neurons_), "n_animals": len(model.animals_),
        "n_windows": int(model.temporal_.shape[1]),
        "communities_per_factor": [int(c.max() + 1) for c in model.communities_],
        "kernel": KERNEL,
        "options": {k: (list(v) if isinstance(v, range) else v)
                    for k, v in model.__dict__.items() if k in OPTIONS},
    }
    if "framewise_displacement" in stacked:
        sel = results[model.rank_]
        metrics["fd_correlation"] = [None if np.isnan(v) else float(v)
                                     for v in sel.attrs["fd_correlation"]]
        metrics["fd_session"] = str(sel.attrs["fd_session"])
    return results, metrics


def _add_motion(stacked: xr.Dataset, model: DynamicConnectome, results: dict) -> None:
    """Each window's mean framewise displacement, and its correlation with every factor's
    temporal loading (in the first session's windows: temporal loadings are shared by all
    sessions), into every rank's Dataset."""
    ten = model._tensor
    fd = window_means(stacked, "framewise_displacement", ten.starts, ten.window)
    for ds in results.values():
        ds["window_fd"] = (("animal", "window"), fd, {
            "units": "mm", "description": "mean framewise displacement over the window"})
        ds["window_observed"] = (("animal", "window"), ten.window_observed.T.copy(), {
            "description": "False: the window is mostly censored and was not factorised"})
        r = motion_correlation(ds["temporal"].values, fd[0], ten.window_observed[:, 0])
        ds.attrs["fd_correlation"] = [np.nan if v is None else v for v in r]
        ds.attrs["fd_session"] = str(model.animals_[0])


def plot_report(results: dict[int, xr.Dataset], metrics: dict, out_dir) -> list:
    """Figures of a fit for the dataset's report: rank selection and the selected factors.

    Writes ``ntf_rank_selection.png`` (when a curve exists) and ``ntf_factors.png`` into
    ``out_dir``; returns their paths.
    """
    from pathlib import Path

    from ...report.ntf import plot_factors, plot_rank_curve

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    if metrics.get("curve"):
        paths.append(plot_rank_curve(metrics["curve"], metrics["rank"],
                                     out_dir / "ntf_rank_selection.png"))
    paths.append(plot_factors(results[metrics["rank"]], out_dir / "ntf_factors.png"))
    if "window_fd" in results[metrics["rank"]]:
        from ...report.ntf import plot_motion

        paths.append(plot_motion(results[metrics["rank"]], out_dir / "ntf_motion.png"))
    return paths


__all__ = ["DynamicConnectome", "run", "plot_report", "OPTIONS", "KERNEL", "AffinityTensor"]
