"""Ground truth for dynamic community detection: planted dynamic communities, weighted LFR graphs.

Planted dynamic communities (:func:`planted`)
---------------------------------------------
``n_factors`` factors, each a partition of all ``n_neurons`` neurons into
``n_communities`` communities (random, sizes as equal as possible, independent across
factors). The recording is ``n_epochs`` epochs of ``epoch`` samples; factor r is on in a
set of epochs (each epoch has one or two factors on, each factor is on in at least two
epochs) and in a set of animals (each factor in at least half of them, each animal has at
least two factors), with amplitude ``g[r, a]`` in [0.7, 1] where on. Animal a's trace is::

    x_i(t) = sum_r g[r, a] e_r(t) z[r, a, c_r(i)](t) + private * y_i(t) + noise * n_i(t)

``e_r`` the factor's on/off envelope (0/1 per epoch), ``z`` one shared latent per
(factor, animal, community), ``y_i`` a private latent per neuron (both Gaussian-smoothed
white noise, smoothing sd ``smoothness`` samples, scaled to unit variance), ``n_i`` white
measurement noise. Members of a community rise and fall together while their factor is
on, and only then. **Default noise**: ``noise = 0.5`` (white noise sd half the sd of one
latent), ``private = 0.3``.

The truth (an xarray Dataset) holds ``membership`` (factor, neuron), ``envelope``
(factor, time), and the loadings the affinity tensor should show: ``temporal``
(factor, window) the mean of ``e_r(t)^2`` over each analysis window (``window`` = one
epoch, ``step`` = half an epoch) and ``animal`` (factor, animal) = ``g^2``: the affinity
of a co-active pair scales with the square of the shared amplitude.

Weighted LFR benchmark (:func:`lfr_weighted`)
---------------------------------------------
Topology in the manner of Lancichinetti, Fortunato & Radicchi (2008), with the reference
benchmark's parameters: N = 125, average degree 25, maximum degree 100, degree exponent 2,
community sizes 10 to 100 with exponent 1, topological mixing ``mu_t``. Degrees follow a
power law on ``[k_min, 100]`` (``k_min`` set for the mean); each node has
``round((1 - mu_t) k)`` internal stubs, capped at its community's size - 1; nodes are
placed, most demanding first, in communities large enough for their internal degree;
internal stubs are paired at random within each community and external stubs across the
graph (configuration model; stubs of self-loops, duplicates and external pairs that fall
inside one community are paired again, 20 rounds, then dropped, so realised degrees run
somewhat below the targets: see the realised mixing and degree in the figure's JSON).
:func:`networkx.LFR_benchmark_graph` is not used: for these parameters (a degree-100 node
at mixing 0.25 needs 75 neighbours in its own community of at most 125 nodes) it fails to
place communities or runs for minutes. Weights follow Lancichinetti & Fortunato (2009): node strength ``s_i = k_i ** beta``,
split into an internal part ``(1 - mu_w) s_i`` and an external part ``mu_w s_i``. Their
weights minimise the squared mismatch of these strengths; we reach the same targets by
symmetric multiplicative fitting (``w_ij <- w_ij sqrt(t_i t_j / (S_i S_j))`` on internal
and external edges in turn, ``t`` the target and ``S`` the current internal or external
strength; 200 rounds), starting from unit weights. A node without external edges keeps
all its strength inside. ``beta = 1.5`` (their default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter1d

from ..errors import InputError

DEFAULT_NOISE = 0.5
DEFAULT_PRIVATE = 0.3


@dataclass
class Planted:
    """Traces of a planted simulation and their ground truth (see the module docstring)."""

    traces: list[np.ndarray]       # per animal (n_times, n_neurons)
    mask: np.ndarray               # (n_animals, n_neurons) bool
    truth: xr.Dataset
    window: int
    step: int
    params: dict


def _latent(rng, n_times: int, n: int, smoothness: float) -> np.ndarray:
    z = gaussian_filter1d(rng.standard_normal((n_times + 8 * int(smoothness), n)), smoothness,
                          axis=0, mode="wrap")[4 * int(smoothness): 4 * int(smoothness) + n_times]
    return (z - z.mean(0)) / z.std(0)


def _on_off(rng, n_rows: int, n_cols: int, per_col: tuple[int, int], min_row: int):
    """Random 0/1 (row, col) pattern: each col has per_col[0]..per_col[1] rows on, each row
    at least ``min_row`` cols on (redrawn until it holds)."""
    for _ in range(1000):
        on = np.zeros((n_rows, n_cols), bool)
        for c in range(n_cols):
            k = int(rng.integers(per_col[0], per_col[1] + 1))
            on[rng.choice(n_rows, size=min(k, n_rows), replace=False), c] = True
        if (on.sum(1) >= min_row).all():
            return on
    raise InputError("synth.communities: could not draw an on/off pattern; use more epochs "
                     "or animals for this many factors")


def planted(*, n_neurons: int = 60, n_factors: int = 4, n_communities: int = 3,
            n_animals: int = 6, n_epochs: int = 12, epoch: int = 60,
            noise: float = DEFAULT_NOISE, private: float = DEFAULT_PRIVATE,
            smoothness: float = 3.0, missing: float = 0.0, seed: int = 0) -> Planted:
    """Simulate animals whose neurons form communities that switch on and off.

    Parameters
    ----------
    n_neurons, n_factors, n_communities, n_animals : int
        Sizes; each factor partitions all neurons into ``n_communities`` communities.
    n_epochs, epoch : int
        Number and length (samples) of the epochs in which factors switch on or off.
    noise, private : float
        Sd of white measurement noise and of each neuron's private latent, relative to one
        shared latent (sd 1).
    smoothness : float
        Gaussian smoothing sd (samples) of the latents.
    missing : float
        Fraction of neurons each animal lacks (mask False; its columns are 0).
    seed : int

    Returns
    -------
    Planted
    """
    if n_communities < 2 or n_neurons < 2 * n_communities:
        raise InputError("synth.communities: need n_communities >= 2 and at least two "
                         "neurons per community")
    if not 0 <= missing < 1:
        raise InputError(f"synth.communities: missing must be in [0, 1), got {missing}")
    params = dict(n_neurons=n_neurons, n_factors=n_factors, n_communities=n_communities,
                  n_animals=n_animals, n_epochs=n_epochs, epoch=epoch, noise=noise,
                  private=private, smoothness=smoothness, missing=missing, seed=seed)
    rng = np.random.default_rng(seed)
    membership = np.stack([rng.permutation(np.arange(n_neurons) % n_communities)
                           for _ in range(n_factors)])
    epochs_on = _on_off(rng, n_factors, n_epochs, (1, 2), 2)           # (factor, epoch)
    animals_on = _on_off(rng, n_factors, n_animals, (2, n_factors), max(1, n_animals // 2))
    gain = np.where(animals_on, rng.uniform(0.7, 1.0, animals_on.shape), 0.0)
    n_times = n_epochs * epoch
    envelope = np.repeat(epochs_on.astype(float), epoch, axis=1)        # (factor, time)
    mask = np.ones((n_animals, n_neurons), bool)
    traces = []
    for a in range(n_animals):
        x = private * _latent(rng, n_times, n_neurons, smoothness)
        for r in range(n_factors):
            z = _latent(rng, n_times, n_communities, smoothness)
            x += gain[r, a] * envelope[r][:, None] * z[:, membership[r]]
        x += noise * rng.standard_normal(x.shape)
        if missing > 0:
            lost = rng.choice(n_neurons, size=int(round(missing * n_neurons)), replace=False)
            mask[a, lost] = False
            x[:, lost] = 0.0
        traces.append(x)
    window, step = epoch, epoch // 2
    starts = np.arange(0, n_times - window + 1, step)
    temporal = np.stack([[envelope[r, s:s + window].mean() for s in starts]
                         for r in range(n_factors)])
    truth = xr.Dataset(
        {
            "membership": (("factor", "neuron"), membership),
            "envelope": (("factor", "time"), envelope),
            "temporal": (("factor", "window"), temporal),
            "animal": (("factor", "animal_id"), gain ** 2),
            "gain": (("factor", "animal_id"), gain),
            "epochs_on": (("factor", "epoch"), epochs_on),
        },
        coords={"factor": np.arange(n_factors), "neuron": np.arange(n_neurons),
                "window": starts, "animal_id": np.arange(n_animals)},
        attrs={"window": window, "step": step, **{k: v for k, v in params.items()}},
    )
    return Planted(traces=traces, mask=mask, truth=truth, window=window, step=step,
                   params=params)


def _power_law(rng, exponent: float, low: float, high: float, size: int) -> np.ndarray:
    """Samples of p(x) ~ x^-exponent on [low, high] (inverse transform)."""
    u = rng.random(size)
    if abs(exponent - 1.0) < 1e-9:
        return low * (high / low) ** u
    e = 1.0 - exponent
    return (low ** e + u * (high ** e - low ** e)) ** (1.0 / e)


def _pair_stubs(rng, stubs: np.ndarray) -> np.ndarray:
    """Random pairing of stubs (configuration model); an odd stub out is dropped."""
    stubs = rng.permutation(stubs)
    stubs = stubs[: stubs.size - stubs.size % 2]
    return stubs.reshape(-1, 2)


def _wire(rng, adj: np.ndarray, stubs: np.ndarray, labels: np.ndarray, *, internal: bool,
          rounds: int = 20) -> None:
    """Pair stubs into new edges of ``adj`` (in place); stubs of rejected pairs (self-loops,
    duplicates, wrong side of a community border) are paired again, up to ``rounds``."""
    for _ in range(rounds):
        if stubs.size < 2:
            return
        pairs = _pair_stubs(rng, stubs)
        u, v = pairs[:, 0], pairs[:, 1]
        ok = (u != v) & ~adj[u, v] & ((labels[u] == labels[v]) == internal)
        # a pair drawn twice in this round: keep the first
        key = np.minimum(u, v) * adj.shape[0] + np.maximum(u, v)
        first = np.zeros(key.size, bool)
        first[np.unique(key, return_index=True)[1]] = True
        ok &= first
        adj[u[ok], v[ok]] = adj[v[ok], u[ok]] = True
        stubs = pairs[~ok].ravel()


def _lfr_topology(rng, n, average_degree, max_degree, mu, tau1, tau2, min_community,
                  max_community):
    """LFR-style graph: adjacency (n, n) and community labels (n,)."""
    # degrees: power law tau1 on [k_min, max_degree], k_min set by bisection for the mean
    lo, hi = 1.0, float(max_degree)
    probe = rng.random(20000)
    for _ in range(60):
        k_min = (lo + hi) / 2
        e = 1.0 - tau1
        mean = np.mean((k_min ** e + probe * (max_degree ** e - k_min ** e)) ** (1 / e))
        lo, hi = (k_min, hi) if mean < average_degree else (lo, k_min)
    degree = np.round(_power_law(rng, tau1, k_min, max_degree, n)).astype(int)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(round(_power_law(rng, tau2, min_community, max_community, 1)[0])))
    sizes[-1] -= sum(sizes) - n
    if sizes[-1] < min_community and len(sizes) > 1:
        last = sizes.pop()
        sizes[-1] += last
    sizes = np.sort(np.asarray(sizes))[::-1]
    k_in = np.round((1.0 - mu) * degree).astype(int)
    # most demanding nodes first, each into a community with room that can hold its
    # internal degree (a node that fits none is capped at the largest community's size)
    k_in = np.minimum(k_in, sizes[0] - 1)
    labels = np.full(n, -1)
    free = sizes.copy()
    for i in np.argsort(-k_in, kind="stable"):
        fits = np.flatnonzero((sizes - 1 >= k_in[i]) & (free > 0))
        if fits.size == 0:
            fits = np.flatnonzero(free > 0)
        c = rng.choice(fits, p=free[fits] / free[fits].sum())
        labels[i] = c
        free[c] -= 1
    adj = np.zeros((n, n), bool)
    for c in range(sizes.size):
        members = np.flatnonzero(labels == c)
        _wire(rng, adj, np.repeat(members, np.minimum(k_in[members], members.size - 1)),
              labels, internal=True)
    _wire(rng, adj, np.repeat(np.arange(n), degree - k_in), labels, internal=False)
    return adj.astype(float), labels


def lfr_weighted(*, n: int = 125, average_degree: float = 25, max_degree: int = 100,
                 mu_t: float = 0.5, mu_w: float | None = None, beta: float = 1.5,
                 tau1: float = 2.0, tau2: float = 1.0, min_community: int = 10,
                 max_community: int = 100, seed: int = 0,
                 n_rounds: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A weighted LFR graph (module docstring) as a weight matrix and community labels.

    Parameters
    ----------
    mu_t, mu_w : float
        Topological and weight mixing (fraction of a node's edges, of its strength, that
        leave its community); ``mu_w`` defaults to ``mu_t``.
    tau1, tau2 : float
        Exponents of the degree and community-size power laws.
    beta : float
        Strength exponent; ``n_rounds`` the rounds of weight fitting.

    Returns
    -------
    weights : ndarray, shape (n, n)
        Symmetric, non-negative, zero diagonal.
    labels : ndarray of int, shape (n,)
    """
    mu_w = mu_t if mu_w is None else mu_w
    for name, v in (("mu_t", mu_t), ("mu_w", mu_w)):
        if not 0 <= v <= 1:
            raise InputError(f"synth.lfr: {name} must be in [0, 1], got {v}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 125]))
    adj, labels = _lfr_topology(rng, int(n), float(average_degree), int(max_degree),
                                float(mu_t), float(tau1), float(tau2), int(min_community),
                                int(max_community))
    same = labels[:, None] == labels[None, :]
    inside, outside = adj * same, adj * ~same
    strength = adj.sum(1) ** beta
    t_in, t_out = (1 - mu_w) * strength, mu_w * strength
    no_out = outside.sum(1) == 0
    t_in = np.where(no_out, strength, t_in)
    for _ in range(int(n_rounds)):
        for part, target in ((inside, t_in), (outside, t_out)):
            s = part.sum(1)
            f = np.sqrt(np.where(s > 0, target / np.where(s > 0, s, 1.0), 1.0))
            part *= f[:, None] * f[None, :]
    return inside + outside, labels
