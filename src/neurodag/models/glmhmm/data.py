"""Input checking and preparation for the GLM-HMM: sequences in, one concatenated tensor out."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

import numpy as np
import torch
import xarray as xr

from ...errors import InputError
from .emissions import history, poisson_const


@dataclass
class Prepared:
    """Concatenated sequences with their features.

    ``Z1`` is ``[1 | coupling history (N columns) | covariates (M columns)]``; ``U`` the
    covariates alone (they also drive input-driven transitions)."""

    X: torch.Tensor  # (T, N) observations (0 where missing)
    Z1: torch.Tensor  # (T, 1 + D) features with the constant first
    lengths: np.ndarray  # (B,) bins per sequence
    channels: list[str] | None  # output names when the input carried them
    covariates: list[str] | None = None  # covariate names when the input carried them
    mask: torch.Tensor | None = None  # (T, N) 1 where observed; None: all observed
    U: torch.Tensor | None = None  # (T, M) covariates
    n_coupling: int = 0  # history columns in Z1 (after the constant)
    const: torch.Tensor | None = None  # (T,) Poisson -log x! of each bin
    zz: object = None  # cache of the outer products of Z1 (see newton.outer_products)

    @property
    def H(self) -> torch.Tensor:
        """The coupling history (T, N) (empty when the model has no coupling inputs)."""
        return self.Z1[:, 1:1 + self.n_coupling]

    @property
    def n_obs(self) -> float:
        """Observed values (bins x outputs, minus the missing ones)."""
        return float(self.X.numel() if self.mask is None else self.mask.sum())

    def rows(self, seqs) -> torch.Tensor:
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        rows = np.concatenate([np.arange(starts[i], starts[i] + self.lengths[i]) for i in seqs])
        return torch.as_tensor(rows, device=self.X.device)

    def select(self, seqs) -> Prepared:
        """The sub-collection made of the given sequence indices."""
        idx = self.rows(seqs)

        def take(v):
            return None if v is None else v[idx]

        return Prepared(self.X[idx], self.Z1[idx], self.lengths[list(seqs)], self.channels,
                        self.covariates, take(self.mask), take(self.U), self.n_coupling,
                        take(self.const))

    def blocks(self, n_blocks: int) -> tuple[Prepared, list[list[int]]]:
        """Cut every sequence into ``n_blocks`` contiguous blocks (history kept from before).

        Returns the collection of blocks and, for each block number, the indices of its
        blocks in that collection.
        """
        lengths, groups = [], [[] for _ in range(n_blocks)]
        for n in self.lengths:
            edges = np.linspace(0, n, n_blocks + 1).astype(int)
            for k in range(n_blocks):
                groups[k].append(len(lengths))
                lengths.append(edges[k + 1] - edges[k])
        return replace(self, lengths=np.asarray(lengths), zz=None), groups


def closest(name, choices, what: str) -> InputError:
    """An error naming an unknown option and the closest valid one."""
    near = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.0)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return InputError(f"{what}={name!r} is not one of {list(choices)}{hint}")


def _as_list(X, what="X"):
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise InputError(f"{what}: an empty list of sequences")
        return list(X), True
    return [X], False


def _to_array(x, where: str, dim: str = "channel"):
    """A (time, ``dim``) float array from an array, DataArray or contract Dataset; the
    names along ``dim`` when the input carried them. A 1-D input is one column."""
    names = None
    if isinstance(x, xr.Dataset):
        where = str(x.attrs.get("source", where))
        if "signal" not in x:
            raise InputError(f"{where}: Dataset has no 'signal' variable")
        x = x["signal"]
    if isinstance(x, xr.DataArray):
        if x.ndim == 1:
            x = x.expand_dims({dim: [str(x.name or dim)]}, axis=1)
        rows = [d for d in x.dims if d != dim]
        if dim not in x.dims or len(rows) != 1 or rows[0] not in ("time", "trial"):
            raise InputError(f"{where}: expected dims ('time' or 'trial', {dim!r}), got {x.dims}")
        x = x.transpose(rows[0], dim)
        names = [str(c) for c in x[dim].values] if dim in x.coords else None
        x = x.values
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected numbers, got {np.asarray(x).dtype}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"{where}: expected a 2-D (time, {dim}) array, got shape {arr.shape}")
    return arr, names, where


def _first_bad(mask: np.ndarray) -> str:
    t, c = np.argwhere(mask)[0]
    return f"bin {t}, channel {c}"


def check_values(arr: np.ndarray, emission: str, n_lags: int, where: str, observed=None,
                 n_classes: int | None = None) -> None:
    """Raise a one-line :class:`InputError` for values the emission model cannot take.

    ``observed`` (same shape, bool) marks the values that count; the others may be
    anything, NaN included. ``n_lags`` is the shortest length a sequence may have minus 1.
    """
    if arr.shape[1] < 1:
        raise InputError(f"{where}: no channels")
    if arr.shape[0] < n_lags + 1:
        raise InputError(
            f"{where}: {arr.shape[0]} bins, fewer than n_lags + 1 = {n_lags + 1}"
        )
    obs = np.ones(arr.shape, bool) if observed is None else observed
    bad = ~np.isfinite(arr) & obs
    if bad.any():
        raise InputError(f"{where}: NaN or Inf at {_first_bad(bad)}"
                         + ("" if observed is None else " (not masked)"))
    if emission in ("poisson", "bernoulli", "categorical"):
        if emission == "poisson":
            bad = (arr < 0) | (arr != np.round(arr))
            need = "non-negative integer counts"
        elif emission == "bernoulli":
            bad = (arr != 0) & (arr != 1)
            need = "values in {0, 1}"
        else:
            top = n_classes - 1 if n_classes else None
            bad = (arr < 0) | (arr != np.round(arr)) | (top is not None and arr > top)
            need = ("class labels 0, 1, ..." if top is None
                    else f"class labels in 0..{top}")
        bad &= obs
        if bad.any():
            t, c = np.argwhere(bad)[0]
            raise InputError(
                f"{where}: {emission.capitalize()} emission needs {need}, "
                f"got {arr[t, c]:g} at bin {t}, channel {c}"
            )


def _mask_array(m, shape, where):
    arr = np.asarray(m.values if isinstance(m, xr.DataArray) else m)
    if arr.dtype != bool:
        raise InputError(f"{where}: expected a boolean mask (True = observed), got {arr.dtype}")
    if arr.ndim == 1:
        arr = np.broadcast_to(arr[:, None], shape)
    if arr.shape != shape:
        raise InputError(f"{where}: mask of shape {arr.shape} for data of shape {shape}")
    return arr


def prepare(X, *, n_lags: int, emission: str, device, dtype, n_neurons: int | None = None,
            covariates=None, mask=None, inputs: str = "coupling",
            n_covariates: int | None = None, n_classes: int | None = None):
    """Check sequences and return them concatenated with their features (:class:`Prepared`).

    Parameters
    ----------
    X : array (T, N), xarray DataArray/Dataset (time or trial, channel), or a list of those
        Observations; a 1-D sequence is one output.
    n_neurons : int, optional
        Required number of outputs (a fitted model's); default: that of the first sequence.
    covariates : array (T, M), DataArray (time or trial, covariate), or a list of those
        External regressors, one sequence per sequence of ``X``.
    mask : bool array (T,) or (T, N), or a list of those
        True where observed; the other values of ``X`` are left out (they may be NaN).
    inputs : {"coupling", "covariates", "both"}
        Which features drive the emissions: the outputs' own exp(-k) history over
        ``n_lags`` bins, the covariates, or both.
    n_covariates : int, optional
        Required number of covariates (a fitted model's).
    n_classes : int, optional
        Categorical emission: labels must be below this.

    Returns
    -------
    Prepared
    is_list : bool
        Whether ``X`` was a list (outputs are then per sequence).
    """
    seqs, is_list = _as_list(X)
    covs = None if covariates is None else _as_list(covariates, "covariates")[0]
    masks = None if mask is None else _as_list(mask, "mask")[0]
    for name, other in (("covariates", covs), ("mask", masks)):
        if other is not None and len(other) != len(seqs):
            raise InputError(f"{name}: {len(other)} sequences for {len(seqs)} of X")
    if inputs in ("covariates", "both") and covs is None:
        raise InputError(f"inputs={inputs!r}: covariates are required")
    min_len = n_lags if inputs in ("coupling", "both") else 0
    arrays, ch_names, cov_arrays, cov_names, mask_arrays = [], None, [], None, []
    for i, x in enumerate(seqs):
        name = f"X[{i}]" if is_list else "X"
        arr, ch, where = _to_array(x, name)
        obs = None if masks is None else _mask_array(masks[i], arr.shape, f"mask of {where}")
        check_values(arr, emission, min_len, where, obs, n_classes)
        if ch_names is None:
            ch_names = ch
        want = n_neurons if n_neurons is not None else arrays[0].shape[1] if arrays else None
        if want is not None and arr.shape[1] != want:
            ref = "the fitted model" if n_neurons is not None else "X[0]"
            raise InputError(f"{where}: {arr.shape[1]} channels, but {ref} has {want}")
        if obs is not None:
            arr = np.where(obs, arr, 0.0)
        arrays.append(arr)
        mask_arrays.append(obs)
        if covs is not None:
            u, names, cwhere = _to_array(covs[i], f"covariates[{i}]" if is_list else
                                         "covariates", dim="covariate")
            if u.shape[0] != arr.shape[0]:
                raise InputError(f"{cwhere}: {u.shape[0]} rows for {arr.shape[0]} bins of "
                                 f"{where}")
            bad = ~np.isfinite(u)
            if bad.any():
                raise InputError(f"{cwhere}: NaN or Inf at {_first_bad(bad)}")
            wantc = n_covariates if n_covariates is not None else (
                cov_arrays[0].shape[1] if cov_arrays else None)
            if wantc is not None and u.shape[1] != wantc:
                ref = "the fitted model" if n_covariates is not None else "covariates[0]"
                raise InputError(f"{cwhere}: {u.shape[1]} covariates, but {ref} has {wantc}")
            if cov_names is None:
                cov_names = names
            cov_arrays.append(u)
    Xs = [torch.as_tensor(a, dtype=dtype, device=device) for a in arrays]
    X_all = torch.cat(Xs)
    parts = [torch.ones(X_all.shape[0], 1, dtype=dtype, device=device)]
    n_coupling = 0
    if inputs in ("coupling", "both"):
        parts.append(torch.cat([history(x, n_lags) for x in Xs]))
        n_coupling = X_all.shape[1]
    U = None
    if cov_arrays:
        U = torch.as_tensor(np.concatenate(cov_arrays), dtype=dtype, device=device)
        if inputs in ("covariates", "both"):
            parts.append(U)
    m_all = None
    if masks is not None:
        m_all = torch.as_tensor(np.concatenate(mask_arrays), dtype=dtype, device=device)
    lengths = np.asarray([a.shape[0] for a in arrays], dtype=np.int64)
    const = None
    if emission == "poisson":
        const = poisson_const(X_all, m_all)
    return Prepared(X_all, torch.cat(parts, dim=1), lengths, ch_names, cov_names, m_all, U,
                    n_coupling, const), is_list


def split(values: np.ndarray, lengths: np.ndarray, is_list: bool):
    """Cut a concatenated array back into sequences (a list only when the input was one)."""
    parts = np.split(values, np.cumsum(lengths)[:-1])
    return parts if is_list else parts[0]


def kmeans_posteriors(data: Prepared, n_states: int, rng: np.random.Generator, *,
                      window: int = 50, max_pairs: int = 512) -> np.ndarray:
    """Initial posteriors from k-means on windows of bins, (T, S).

    Each window of ``window`` bins is described by the mean of ``x[t, n] * h[t, m]`` over
    its bins (the raw moment that the weights W[n, m] act on; at most ``max_pairs`` pairs,
    drawn by ``rng``, when N^2 is larger) and the mean counts; the standardised features
    are reduced to 10 principal components and clustered into ``n_states`` groups
    (scipy ``kmeans2``, k-means++ seeding, best of 4 by inertia). Every
    bin gets 0.9 on its window's cluster and 0.1 spread evenly.
    """
    from scipy.cluster.vq import kmeans2

    T, N = data.X.shape
    pairs = np.stack(np.meshgrid(np.arange(N), np.arange(N), indexing="ij"), -1).reshape(-1, 2)
    if len(pairs) > max_pairs:
        pairs = pairs[np.sort(rng.choice(len(pairs), max_pairs, replace=False))]
    win = np.concatenate([np.arange(n) // window + k for n, k in zip(
        data.lengths, np.concatenate([[0], np.cumsum(-(-data.lengths // window))[:-1]]),
        strict=True)])
    n_win = int(win.max()) + 1
    if n_win < n_states or n_states == 1:
        return np.full((T, n_states), 1.0 / n_states)
    widx = torch.as_tensor(win, device=data.X.device)
    X, H = data.X, data.H
    if len(pairs) == N * N:  # every pair: one batched product per window
        starts = np.concatenate([[0], np.flatnonzero(np.diff(win)) + 1])
        pos = np.arange(T) - np.repeat(starts, np.diff(np.append(starts, T)))
        pos = torch.as_tensor(pos, device=X.device)
        Xp = torch.zeros(n_win, window, N, dtype=X.dtype, device=X.device)
        Hp = torch.zeros_like(Xp)
        Xp[widx, pos] = X
        Hp[widx, pos] = H
        feats = torch.cat([(Xp.transpose(1, 2) @ Hp).reshape(n_win, N * N), Xp.sum(1)], 1)
    else:
        n_sel = torch.as_tensor(pairs[:, 0], device=X.device)
        m_sel = torch.as_tensor(pairs[:, 1], device=X.device)
        feats = torch.zeros(n_win, len(pairs) + N, dtype=X.dtype, device=X.device)
        step = max(1, (1 << 20) // feats.shape[1])
        for t0 in range(0, T, step):
            sl = slice(t0, min(T, t0 + step))
            f = torch.cat([X[sl][:, n_sel] * H[sl][:, m_sel], X[sl]], dim=1)
            feats.index_add_(0, widx[sl], f)
    counts = torch.bincount(widx, minlength=n_win).to(feats.dtype)
    F = feats / counts[:, None]
    F = (F - F.mean(0)) / (F.std(0) + 1e-12)
    _, vecs = torch.linalg.eigh(F.T @ F)
    F = (F @ vecs[:, -10:]).cpu().numpy()  # the first 10 principal components
    best = None
    for _ in range(4):  # k-means++ restarts, the tightest clustering kept
        cent, lab = kmeans2(F, n_states, minit="++", seed=rng)
        inertia = ((F - cent[lab]) ** 2).sum()
        if best is None or inertia < best[0]:
            best = (inertia, lab)
    labels = best[1][win]
    return 0.9 * np.eye(n_states)[labels] + 0.1 / n_states


def sequences(ds: xr.Dataset, label: str = "sequence") -> list[xr.DataArray]:
    """Cut a contract Dataset into its sequences, one per event labelled ``label``.

    Each event's [onset, onset + duration) span of ``signal`` becomes one (time, channel)
    DataArray; without such events the whole signal is one sequence.
    """
    from ... import schema

    if "signal" not in ds:
        raise InputError(f"{ds.attrs.get('source', 'dataset')}: no 'signal' variable")
    sig = ds["signal"].transpose("time", "channel")
    ev = schema.get_events(ds)
    ev = ev[ev["label"] == label]
    if ev.empty:
        return [sig]
    t = ds["time"].values
    half = 0.5 / float(ds.attrs.get("sfreq", 1.0 / np.median(np.diff(t)) if t.size > 1 else 1))
    out = []
    for onset, dur in zip(ev["onset"], ev["duration"], strict=True):
        keep = (t >= onset - half) & (t < onset + dur - half)
        if keep.any():
            out.append(sig.isel(time=np.flatnonzero(keep)))
    return out
