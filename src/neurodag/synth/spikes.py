"""Binned spike counts from a switching Poisson GLM (the GLM-HMM simulation).

Follows "One-hot Generalized Linear Model for Switching Brain State Discovery" (ICLR 2024;
/work/shared/REFERENCES.md): a hidden Markov chain ``z_t`` (diagonal 0.98, the rest
spread evenly; uniform start) selects the weights; neuron ``n`` at bin ``t`` fires
``x_tn ~ Poisson(g(b_n + sum_m W[z_t][n, m] h_tm))`` with the history
``h_tm = sum_{k=1..5} phi_k x_{t-k, m}``, ``phi_k`` proportional to ``exp(-k)`` and summing
to 1. Connectivity: ``pi_nm ~ Dirichlet(2 [0.1, 0.8, 0.1])`` over {inh, none, exc},
``A_s[n, m] ~ Cat(pi_nm)`` per state, ``W_s = sign(A_s) log(1 + 3 U)``, bias
``0.1 (U - 0.5)``.

The nonlinearity ``g`` is the logistic sigmoid by default (at most one expected spike per
bin), as in the paper's reference simulation: with these weights a softplus ``g`` runs
away (measured: 5-20 % of bins reach 1000 spikes per bin, largest real eigenvalue of
``W_s`` about 2 for every draw). ``nonlinearity="softplus"`` is available, its rate capped
at :data:`MAX_SOFTPLUS_RATE` spikes per bin.

The pieces are public for the GLM-HMM model: :func:`sample_params` and :func:`sample`.
``generate`` concatenates ``n_sequences`` independent sequences into one session; each
sequence is an event labelled ``sequence`` (onset, duration). The history restarts at
each sequence start. Parameters belong to the subject (same seed and subject give the
same weights in every session); sequences belong to the session. ``truth`` holds

``hidden_state`` (time), ``sequence`` (time)
    Hidden state (index along dim ``state``) and sequence index per bin.
``rate`` (time, channel)
    Poisson rate (spikes per bin).
``weights`` (state, post, pre), ``adjacency`` (state, post, pre)
    ``W_s[n, m]`` (from neuron ``pre`` = m to ``post`` = n) and its sign in {-1, 0, 1}.
``bias`` (post), ``transmat`` (state, next_state), ``startprob`` (state),
``prior`` (post, pre, kind), ``basis`` (lag).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .. import schema
from .common import (
    Simulation,
    callable_module,
    choice,
    fraction,
    lagged_events,
    params_digest,
    positive,
    rngs,
    strings,
    truth_attrs,
)

MODALITY = "spikes"
KINDS = ("inh", "none", "exc")
NONLINEARITIES = ("sigmoid", "softplus")
#: Cap on softplus rates (spikes per bin), so that runaway excitation stays finite.
MAX_SOFTPLUS_RATE = 20.0


@dataclass
class GLMHMMParams:
    """Parameters of a Poisson GLM-HMM.

    Attributes
    ----------
    weights : ndarray, shape (n_states, n_neurons, n_neurons)
        ``weights[s, n, m]``: effect of neuron m's history on neuron n in state s.
    adjacency : ndarray of int, same shape
        Sign of each connection in {-1, 0, 1}.
    bias : ndarray, shape (n_neurons,)
    transmat : ndarray, shape (n_states, n_states)
        Row-stochastic transition matrix.
    startprob : ndarray, shape (n_states,)
    basis : ndarray, shape (n_lags,)
        History kernel ``phi_k`` for lags 1..n_lags.
    prior : ndarray, shape (n_neurons, n_neurons, 3)
        The Dirichlet draw ``pi`` over (inh, none, exc).
    nonlinearity : {"sigmoid", "softplus"}
        Link from drive to Poisson rate (spikes per bin).
    input_weights : ndarray, shape (n_states, n_neurons, n_inputs), optional
        Weights of external inputs (e.g. stimulus kernels) on the drive.
    """

    weights: np.ndarray
    adjacency: np.ndarray
    bias: np.ndarray
    transmat: np.ndarray
    startprob: np.ndarray
    basis: np.ndarray
    prior: np.ndarray
    nonlinearity: str = "sigmoid"
    input_weights: np.ndarray | None = None  # (n_states, n_neurons, n_inputs)

    def rate(self, drive: np.ndarray) -> np.ndarray:
        """Poisson rate (spikes per bin) for a drive ``b + W h``."""
        if self.nonlinearity == "sigmoid":
            return 0.5 * (1.0 + np.tanh(0.5 * drive))
        return np.minimum(np.logaddexp(0.0, drive), MAX_SOFTPLUS_RATE)

    @property
    def n_states(self) -> int:
        return self.weights.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.weights.shape[1]


def history_basis(n_lags: int = 5, decay: float = 1.0) -> np.ndarray:
    """``phi_k`` proportional to ``exp(-k / decay)`` for k = 1..n_lags, summing to 1."""
    phi = np.exp(-np.arange(1, n_lags + 1) / decay)
    return phi / phi.sum()


def sample_params(n_states: int, n_neurons: int, rng: np.random.Generator, *,
                  stay: float = 0.98, n_lags: int = 5,
                  nonlinearity: str = "sigmoid") -> GLMHMMParams:
    """Draw GLM-HMM parameters as in the reference simulation.

    Parameters
    ----------
    n_states, n_neurons : int
    rng : numpy.random.Generator
    stay : float
        Diagonal of the transition matrix; ``1 - stay`` is spread over the other states.
    n_lags : int
        Length of the history basis.
    nonlinearity : {"sigmoid", "softplus"}
        Link from drive to rate (see the module docstring).
    """
    choice(MODALITY, "nonlinearity", nonlinearity, NONLINEARITIES)
    n_states = positive(MODALITY, "n_states", n_states, integer=True)
    n_neurons = positive(MODALITY, "n_neurons", n_neurons, integer=True)
    stay = fraction(MODALITY, "stay", stay)
    prior = rng.dirichlet(2.0 * np.array([0.1, 0.8, 0.1]), size=(n_neurons, n_neurons))
    cum = prior.cumsum(-1)
    u = rng.random((n_states, n_neurons, n_neurons, 1))
    kind = (u > cum[None, ..., :2]).sum(-1)                  # 0 inh, 1 none, 2 exc
    adjacency = (kind - 1).astype(np.int8)
    strength = np.log1p(3.0 * rng.random((n_states, n_neurons, n_neurons)))
    bias = 0.1 * (rng.random(n_neurons) - 0.5)
    if n_states == 1:
        transmat = np.ones((1, 1))
    else:
        transmat = np.full((n_states, n_states), (1.0 - stay) / (n_states - 1))
        np.fill_diagonal(transmat, stay)
    return GLMHMMParams(weights=adjacency * strength, adjacency=adjacency, bias=bias,
                        transmat=transmat, startprob=np.full(n_states, 1.0 / n_states),
                        basis=history_basis(n_lags), prior=prior, nonlinearity=nonlinearity)


def sample(params: GLMHMMParams, n_bins: int, n_sequences: int,
           rng: np.random.Generator, inputs: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate sequences from a GLM-HMM.

    ``inputs`` (n_sequences, n_bins, n_inputs) are external covariates, weighted by
    ``params.input_weights``.

    Returns
    -------
    counts : ndarray of int, shape (n_sequences, n_bins, n_neurons)
    states : ndarray of int, shape (n_sequences, n_bins)
    rates : ndarray, shape (n_sequences, n_bins, n_neurons)
        Poisson rates (spikes per bin).
    """
    n_bins = positive(MODALITY, "n_bins", n_bins, integer=True)
    n_sequences = positive(MODALITY, "n_sequences", n_sequences, integer=True)
    n_states, n_neurons, lags = params.n_states, params.n_neurons, params.basis.size
    states = np.empty((n_sequences, n_bins), int)
    cum_t = params.transmat.cumsum(1)
    states[:, 0] = (rng.random((n_sequences, 1)) > params.startprob.cumsum()).sum(1)
    u = rng.random((n_sequences, n_bins))
    for t in range(1, n_bins):
        states[:, t] = (u[:, t, None] > cum_t[states[:, t - 1]]).sum(1)
    states = np.minimum(states, n_states - 1)             # guard against rounding of cumsum
    counts = np.zeros((n_sequences, n_bins + lags, n_neurons), np.int64)
    rates = np.empty((n_sequences, n_bins, n_neurons))
    phi = params.basis[::-1]                               # phi_k for x_{t-k}, oldest first
    seq = np.arange(n_sequences)
    for t in range(n_bins):
        h = np.einsum("k,skm->sm", phi, counts[:, t:t + lags])
        drive = params.bias + np.einsum("snm,sm->sn", params.weights[states[:, t]], h)
        if inputs is not None:
            drive += np.einsum("snm,sm->sn", params.input_weights[states[:, t]], inputs[:, t])
        rate = params.rate(drive)
        rates[:, t] = rate
        counts[seq, t + lags] = rng.poisson(rate)
    return counts[:, lags:], states, rates


def generate(*, seed: int = 0, subject: str = "01", session: str = "01",
             n_states: int = 5, n_neurons: int = 20, n_bins: int = 2000,
             n_sequences: int = 5, bin_size: float = 0.01, stay: float = 0.98,
             nonlinearity: str = "sigmoid", n_stimuli: int = 0, kernel_bins: int = 10,
             stimulus_rate: float = 0.5) -> Simulation:
    """Simulate one session of binned spike counts from a GLM-HMM.

    Parameters
    ----------
    seed, subject, session : see :func:`neurodag.synth.eeg.generate`.
    n_states, n_neurons : int
        Hidden states and neurons (channels ``N01``...).
    n_bins, n_sequences : int
        Bins per sequence and sequences in the session.
    bin_size : float
        Bin width in s (``sfreq = 1 / bin_size``).
    stay : float
        Diagonal of the transition matrix.
    nonlinearity : {"sigmoid", "softplus"}
        Link from drive to rate (see the module docstring).
    n_stimuli, kernel_bins, stimulus_rate : int, int, float
        External inputs: ``n_stimuli`` event labels (``stim1``...), each occurring as a
        Poisson process of ``stimulus_rate`` per s (onsets on bin starts), driving every
        neuron through a kernel over ``kernel_bins`` bins after the onset,
        ``a[s, n, k] exp(-3 lag / kernel_bins)`` with a state-dependent amplitude
        ``a ~ N(0, 1)`` (truth ``input_weights``, on the regressors of
        :func:`neurodag.synth.common.lagged_events`).
    """
    params = dict(locals())
    m = MODALITY
    bin_size = positive(m, "bin_size", bin_size)
    rng_subject, rng_session = rngs(m, seed, subject, session)
    glm = sample_params(n_states, n_neurons, rng_subject, stay=stay, nonlinearity=nonlinearity)
    sfreq = 1.0 / bin_size
    stim, inputs, input_names = _stimuli(glm, rng_subject, rng_session, n_stimuli,
                                         kernel_bins, stimulus_rate, n_bins, n_sequences,
                                         sfreq)
    counts, states, rates = sample(glm, n_bins, n_sequences, rng_session, inputs)
    n_seq, n_bins = states.shape
    names = [f"N{i + 1:02d}" for i in range(glm.n_neurons)]
    onsets = np.arange(n_seq) * n_bins * bin_size
    events = {"onset": [*onsets, *stim["onset"]],
              "duration": [*np.full(n_seq, n_bins * bin_size), *np.zeros(len(stim["onset"]))],
              "label": ["sequence"] * n_seq + stim["label"]}
    ds = schema.build(
        counts.reshape(-1, glm.n_neurons).astype(np.float64), sfreq=sfreq, channels=names,
        channel_types="neuron", units="count", modality=m, subject=subject, session=session,
        events=events, source=f"synthetic:{m}", source_sha256=params_digest(m, params),
    )
    sq = ("state", "post", "pre")
    truth = xr.Dataset(
        {
            "hidden_state": ("time", states.reshape(-1)),
            "sequence": ("time", np.repeat(np.arange(n_seq), n_bins)),
            "rate": (("time", "channel"), rates.reshape(-1, glm.n_neurons),
                     {"units": "spikes per bin"}),
            "weights": (sq, glm.weights),
            "adjacency": (sq, glm.adjacency),
            "bias": ("post", glm.bias),
            "transmat": (("state", "next_state"), glm.transmat),
            "startprob": ("state", glm.startprob),
            "prior": (("post", "pre", "kind"), glm.prior),
            "basis": ("lag", glm.basis),
        },
        coords={"time": ("time", ds["time"].values, {"units": "s"}), "channel": strings(names),
                "state": np.arange(glm.n_states), "next_state": np.arange(glm.n_states),
                "post": strings(names), "pre": strings(names), "kind": strings(KINDS),
                "lag": np.arange(1, glm.basis.size + 1)},
        attrs=truth_attrs(m, params, sfreq=sfreq, nonlinearity=nonlinearity),
    )
    if glm.input_weights is not None:
        truth["input_weights"] = xr.DataArray(
            glm.input_weights, dims=("state", "post", "covariate"),
            coords={"covariate": strings(input_names)})
    truth = schema.set_events(truth, events)
    return Simulation(modality=m, data=ds, truth=truth, params=params)


def _stimuli(glm, rng_subject, rng_session, n_stimuli, kernel_bins, rate, n_bins, n_seq, sfreq):
    """Stimulus events, the inputs they make (n_seq, n_bins, n_stimuli x kernel_bins) and
    their names; sets ``glm.input_weights``. Nothing is drawn without stimuli."""
    n_stimuli = int(n_stimuli)
    if n_stimuli <= 0:
        return {"onset": [], "label": []}, None, []
    kernel_bins = positive(MODALITY, "kernel_bins", kernel_bins, integer=True)
    rate = positive(MODALITY, "stimulus_rate", rate)
    amp = rng_subject.normal(0.0, 1.0, (glm.n_states, glm.n_neurons, n_stimuli))
    kernel = np.exp(-3.0 * np.arange(kernel_bins) / kernel_bins)
    glm.input_weights = (amp[..., None] * kernel).reshape(glm.n_states, glm.n_neurons, -1)
    T = n_bins * n_seq
    onsets = {f"stim{k + 1}": np.flatnonzero(rng_session.random(T) < rate / sfreq) / sfreq
              for k in range(n_stimuli)}
    U, names = lagged_events(onsets, np.arange(T) / sfreq, sfreq, kernel_bins)
    stim = {"onset": [t for v in onsets.values() for t in v],
            "label": [lab for lab, v in onsets.items() for _ in v]}
    return stim, U.reshape(n_seq, n_bins, -1), names


callable_module(__name__)
