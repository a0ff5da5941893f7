"""Input checking and preparation for the GLM-HMM: sequences in, one concatenated tensor out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from ...errors import InputError, suggest
from .emissions import history


@dataclass
class Prepared:
    """Concatenated sequences with their history features."""

    X: torch.Tensor  # (T, N) observations
    H: torch.Tensor  # (T, N) exp(-k) history
    lengths: np.ndarray  # (B,) bins per sequence
    channels: list[str] | None  # channel names when the input carried them

    def select(self, seqs) -> Prepared:
        """The sub-collection made of the given sequence indices."""
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        rows = np.concatenate([np.arange(starts[i], starts[i] + self.lengths[i]) for i in seqs])
        idx = torch.as_tensor(rows, device=self.X.device)
        return Prepared(self.X[idx], self.H[idx], self.lengths[list(seqs)], self.channels)

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
        return Prepared(self.X, self.H, np.asarray(lengths), self.channels), groups


def closest(name, choices, what: str) -> InputError:
    """An error naming an unknown option and the closest valid one."""
    return InputError(f"{what}={name!r} is not one of {list(choices)}"
                      f"{suggest(name, choices)}")


def _as_list(X):
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise InputError("X: an empty list of sequences")
        return list(X), True
    return [X], False


def _to_array(x, where: str):
    """A (time, channel) float array from an array, DataArray or contract Dataset."""
    channels = None
    if isinstance(x, xr.Dataset):
        where = str(x.attrs.get("source", where))
        if "signal" not in x:
            raise InputError(f"{where}: Dataset has no 'signal' variable")
        x = x["signal"]
    if isinstance(x, xr.DataArray):
        if set(x.dims) != {"time", "channel"}:
            raise InputError(f"{where}: expected dims ('time', 'channel'), got {x.dims}")
        x = x.transpose("time", "channel")
        channels = [str(c) for c in x["channel"].values] if "channel" in x.coords else None
        x = x.values
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected numbers, got {np.asarray(x).dtype}") from None
    if arr.ndim != 2:
        raise InputError(f"{where}: expected a 2-D (time, channel) array, got shape {arr.shape}")
    return arr, channels, where


def _first_bad(mask: np.ndarray) -> str:
    t, c = np.argwhere(mask)[0]
    return f"bin {t}, channel {c}"


def check_values(arr: np.ndarray, emission: str, n_lags: int, where: str) -> None:
    """Raise a one-line :class:`InputError` for values the emission model cannot take."""
    if arr.shape[1] < 1:
        raise InputError(f"{where}: no channels")
    if arr.shape[0] < n_lags + 1:
        raise InputError(
            f"{where}: {arr.shape[0]} bins, fewer than n_lags + 1 = {n_lags + 1}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(f"{where}: NaN or Inf at {_first_bad(bad)}")
    if emission == "poisson":
        bad = (arr < 0) | (arr != np.round(arr))
        if bad.any():
            t, c = np.argwhere(bad)[0]
            raise InputError(
                f"{where}: Poisson emission needs non-negative integer counts, "
                f"got {arr[t, c]:g} at bin {t}, channel {c}"
            )
    elif emission == "bernoulli":
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            t, c = np.argwhere(bad)[0]
            raise InputError(
                f"{where}: Bernoulli emission needs values in {{0, 1}}, "
                f"got {arr[t, c]:g} at bin {t}, channel {c}"
            )


def prepare(X, *, n_lags: int, emission: str, device, dtype, n_neurons: int | None = None):
    """Check sequences and return them concatenated with their history (:class:`Prepared`).

    Parameters
    ----------
    X : array (T, N), xarray DataArray/Dataset (time, channel), or a list of those
    n_neurons : int, optional
        Required number of channels (a fitted model's); default: that of the first sequence.

    Returns
    -------
    Prepared
    is_list : bool
        Whether ``X`` was a list (outputs are then per sequence).
    """
    seqs, is_list = _as_list(X)
    arrays, channels = [], None
    for i, x in enumerate(seqs):
        arr, ch, where = _to_array(x, f"X[{i}]" if is_list else "X")
        check_values(arr, emission, n_lags, where)
        if channels is None:
            channels = ch
        want = n_neurons if n_neurons is not None else arrays[0].shape[1] if arrays else None
        if want is not None and arr.shape[1] != want:
            ref = "the fitted model" if n_neurons is not None else "X[0]"
            raise InputError(f"{where}: {arr.shape[1]} channels, but {ref} has {want}")
        arrays.append(arr)
    Xs = [torch.as_tensor(a, dtype=dtype, device=device) for a in arrays]
    Hs = [history(x, n_lags) for x in Xs]
    lengths = np.asarray([a.shape[0] for a in arrays], dtype=np.int64)
    return Prepared(torch.cat(Xs), torch.cat(Hs), lengths, channels), is_list


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
    n_sel = torch.as_tensor(pairs[:, 0], device=data.X.device)
    m_sel = torch.as_tensor(pairs[:, 1], device=data.X.device)
    feats = torch.zeros(n_win, len(pairs) + N, dtype=data.X.dtype, device=data.X.device)
    step = max(1, (1 << 20) // feats.shape[1])
    for t0 in range(0, T, step):
        sl = slice(t0, min(T, t0 + step))
        f = torch.cat([data.X[sl][:, n_sel] * data.H[sl][:, m_sel], data.X[sl]], dim=1)
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
