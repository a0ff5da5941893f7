"""Choices of a GLM-HMM observer in a two-alternative task (Ashwood et al. 2022).

The generative model of Ashwood et al., "Mice alternate between discrete strategies during
perceptual decision-making" (Nat. Neurosci. 2022), with the parameters of their GLM-HMM
tutorial (``zashwood/ssm`` / ``lindermanlab/ssm`` notebook "2b Input Driven Observations",
"analogous to Figure S1c"): three states, each a logistic regression of the choice on the
signed stimulus contrast and a bias,

=========  ========  ======  =====================================
state      stimulus  bias    (p(right) = sigmoid(w * stim + b))
=========  ========  ======  =====================================
engaged    6         1
biased L   2         -3
biased R   2         3
=========  ========  ======  =====================================

transition matrix ``[[0.98, 0.01, 0.01], [0.05, 0.92, 0.03], [0.03, 0.03, 0.94]]``,
uniform start, contrasts drawn uniformly from {0, +-0.0625, +-0.125, +-0.25, +-0.5, +-1}
(the IBL task's). The tutorial writes p(choice 0) with these weights; here they give
p(right = 1), so that a positive stimulus weight favours the correct side.

Departures and additions, all optional and documented where used: each subject's weights
may differ from these by N(0, ``subject_sd``^2) (to exercise per-subject fits); a fraction
``p_missing`` of trials has no choice (the "violation" trials Ashwood et al. mask out);
``arousal`` adds a per-trial covariate (N(0, 1)) that drives the transitions
(input-driven, ssm's InputDrivenTransitions: the logit of entering state j grows by
``arousal * w_j``).

:func:`sample_params`, :func:`design` and :func:`sample` are the pieces; :func:`generate`
gives one subject's sessions as a trial table
(:func:`neurodag.schema_trials.build_trials`) with columns ``stimulus``, ``choice`` (1 right,
0 left, NaN missing), ``reward`` (1 when the choice matched the stimulus side; zero contrast:
a random side) and ``arousal`` when asked for, coordinates ``session_id``, ``start_time``/``stop_time`` (one trial every
``trial_s``); ``truth`` holds ``hidden_state`` (trial), ``weights`` (state, covariate),
``bias`` (state), ``transmat`` (state, next_state), ``startprob`` (state) and
``transition_weights`` (next_state, covariate) when input-driven.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from .. import schema_trials
from .common import (
    Simulation,
    callable_module,
    params_digest,
    positive,
    rngs,
    strings,
    truth_attrs,
)

MODALITY = "behavior"
STATES = ("engaged", "biased_left", "biased_right")
#: (stimulus weight, bias) of each state, and the transition matrix (the tutorial's).
ASHWOOD_WEIGHTS = np.array([[6.0, 1.0], [2.0, -3.0], [2.0, 3.0]])
ASHWOOD_TRANSMAT = np.array([[0.98, 0.01, 0.01], [0.05, 0.92, 0.03], [0.03, 0.03, 0.94]])
#: Signed contrasts of the IBL task.
CONTRASTS = np.array([-1, -0.5, -0.25, -0.125, -0.0625, 0, 0.0625, 0.125, 0.25, 0.5, 1.0])
#: Default transition weights on ``arousal`` (entering engaged / biased L / biased R).
AROUSAL_WEIGHTS = np.array([[1.5], [-0.75], [-0.75]])


@dataclass
class ChoiceParams:
    """A Bernoulli GLM-HMM: ``weights`` (S, M) on the covariates, ``bias`` (S,),
    ``transmat`` (S, S), ``startprob`` (S,), ``transition_weights`` (S, M_t) or None."""

    weights: np.ndarray
    bias: np.ndarray
    transmat: np.ndarray
    startprob: np.ndarray
    transition_weights: np.ndarray | None = None

    @property
    def n_states(self) -> int:
        return self.weights.shape[0]


def sample_params(rng: np.random.Generator | None = None, *, subject_sd: float = 0.0,
                  arousal: bool = False) -> ChoiceParams:
    """The tutorial's parameters, each weight and bias moved by N(0, ``subject_sd``^2)."""
    w = ASHWOOD_WEIGHTS.copy()
    if subject_sd:
        w = w + rng.normal(0.0, subject_sd, w.shape)
    return ChoiceParams(weights=w[:, :1], bias=w[:, 1], transmat=ASHWOOD_TRANSMAT.copy(),
                        startprob=np.full(3, 1 / 3),
                        transition_weights=AROUSAL_WEIGHTS.copy() if arousal else None)


def design(rng: np.random.Generator, n_sessions: int, n_trials: int) -> np.ndarray:
    """Contrasts of every trial, (n_sessions, n_trials, 1)."""
    return rng.choice(CONTRASTS, size=(n_sessions, n_trials, 1))


def sample(params: ChoiceParams, inputs: np.ndarray, rng: np.random.Generator,
           transition_inputs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hidden states and choices of every trial: two (n_sessions, n_trials) int arrays.

    ``inputs`` (n_sessions, n_trials, M) are the covariates of the choice;
    ``transition_inputs`` (n_sessions, n_trials, M_t) those of the transitions into each
    trial (needed when ``params.transition_weights`` is set).
    """
    n_seq, T, _ = inputs.shape
    S = params.n_states
    log_P = np.log(params.transmat)
    states = np.empty((n_seq, T), int)
    u = rng.random((n_seq, T))
    states[:, 0] = (u[:, 0, None] > params.startprob.cumsum()[None, :-1]).sum(1)
    for t in range(1, T):
        logits = log_P[states[:, t - 1]]
        if params.transition_weights is not None:
            logits = logits + transition_inputs[:, t] @ params.transition_weights.T
        p = np.exp(logits - logits.max(1, keepdims=True))
        cum = (p / p.sum(1, keepdims=True)).cumsum(1)
        states[:, t] = np.minimum((u[:, t, None] > cum).sum(1), S - 1)
    drive = np.einsum("stm,stm->st", inputs, params.weights[states]) + params.bias[states]
    choices = (rng.random((n_seq, T)) < 1 / (1 + np.exp(-drive))).astype(int)
    return choices, states


def generate(*, seed: int = 0, subject: str = "01", session: str = "01",
             n_sessions: int = 20, n_trials: int = 100, subject_sd: float = 0.0,
             p_missing: float = 0.0, arousal: bool = False, trial_s: float = 5.0) -> Simulation:
    """Simulate one subject's sessions of the two-alternative task.

    Parameters
    ----------
    seed, subject, session : see :func:`neurodag.synth.eeg.generate`.
    n_sessions, n_trials : int
        Sessions of the subject and trials per session.
    subject_sd : float
        Spread of this subject's weights around the tutorial's.
    p_missing : float
        Fraction of trials without a choice (NaN).
    arousal : bool
        Add the covariate ``arousal`` driving the transitions.
    trial_s : float
        Time between trial starts (s); each session starts an hour after the previous one.
    """
    params = dict(locals())
    m = MODALITY
    n_sessions = positive(m, "n_sessions", n_sessions, integer=True)
    n_trials = positive(m, "n_trials", n_trials, integer=True)
    trial_s = positive(m, "trial_s", trial_s)
    rng_subject, rng_session = rngs(m, seed, subject, session)
    glm = sample_params(rng_subject, subject_sd=subject_sd, arousal=arousal)
    stim = design(rng_session, n_sessions, n_trials)
    extra = rng_session.normal(size=(n_sessions, n_trials, 1)) if arousal else None
    choices, states = sample(glm, stim, rng_session, extra)
    side = np.where(stim[..., 0] != 0, stim[..., 0] > 0,
                    rng_session.random(stim.shape[:2]) < 0.5).astype(int)
    reward = (choices == side).astype(float)
    choice = choices.astype(float)
    missing = rng_session.random(choice.shape) < p_missing
    choice[missing] = np.nan
    reward[missing] = 0.0
    start = (np.arange(n_sessions)[:, None] * 3600.0 + np.arange(n_trials)[None] * trial_s)
    table = pd.DataFrame({
        "session": np.repeat([f"{subject}-{i + 1:02d}" for i in range(n_sessions)], n_trials),
        "start_time": start.ravel(), "stop_time": start.ravel() + trial_s,
        "stimulus": stim[..., 0].ravel(), "choice": choice.ravel(), "reward": reward.ravel(),
    })
    if arousal:
        table["arousal"] = extra[..., 0].ravel()
    ds = schema_trials.build_trials(table, subject=subject, session=session,
                             source=f"synthetic:{m}", source_sha256=params_digest(m, params))
    names = strings(STATES)
    truth = xr.Dataset(
        {"hidden_state": ("trial", states.ravel()),
         "weights": (("state", "covariate"), glm.weights),
         "bias": ("state", glm.bias),
         "transmat": (("state", "next_state"), glm.transmat),
         "startprob": ("state", glm.startprob)},
        coords={"trial": np.arange(states.size), "state": np.arange(3),
                "next_state": np.arange(3), "state_name": ("state", names),
                "covariate": strings(["stimulus"])},
        attrs=truth_attrs(m, params),
    )
    if arousal:
        truth["transition_weights"] = xr.DataArray(
            glm.transition_weights, dims=("next_state", "transition_covariate"),
            coords={"transition_covariate": strings(["arousal"])})
    return Simulation(modality=m, data=ds, truth=truth, params=params)


callable_module(__name__)
