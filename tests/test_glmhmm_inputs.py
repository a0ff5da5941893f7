"""GLM-HMM with external covariates, choices, input-driven transitions and many sessions:
recovery of simulated ground truth on held-out data, against the true parameters' own
numbers (state accuracy within 0.02 of their Viterbi accuracy, weight correlation >= 0.9,
held-out log-likelihood within 0.01 per bin/trial)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from neurodag import schema_trials
from neurodag.errors import InputError
from neurodag.models.glmhmm import GLMHMM
from neurodag.models.glmhmm.data import sequences
from neurodag.models.glmhmm.features import event_regressors, trial_design
from neurodag.models.glmhmm.lapse import LapseModel
from neurodag.models.glmhmm.metrics import baseline_loglik, bits_per_trial, match_states
from neurodag.models.glmhmm.pooled import fit_global_and_subjects
from neurodag.models.glmhmm.select import select_n_states
from neurodag.synth import behavior, spikes

torch.set_num_threads(1)


def _recovery(model, truth_model, X, U, M, true_states, S, fitted_w, true_w):
    """(accuracy, truth's accuracy, weight correlation, LL gap) on held-out sequences."""
    pred = np.concatenate(model.predict(X, U, M))
    perm, acc = match_states(np.ravel(true_states), pred, S)
    _, acc0 = match_states(np.ravel(true_states), np.concatenate(truth_model.predict(X, U, M)), S)
    r = np.corrcoef(fitted_w(perm).ravel(), np.ravel(true_w))[0, 1]
    return acc, acc0, r, truth_model.score(X, U, M) - model.score(X, U, M)


def _choice_truth(truth, transition_weights=None, n_extra=0):
    w = truth["weights"].values
    w = np.concatenate([w, np.zeros((w.shape[0], n_extra))], 1)
    return GLMHMM.from_params(input_weights=w[:, None, :], bias=truth["bias"].values[:, None],
                              transmat=truth["transmat"].values,
                              startprob=truth["startprob"].values,
                              transition_weights=transition_weights, emission="bernoulli",
                              link="sigmoid")


def _choice_weights(model):
    return lambda perm: np.concatenate([model.input_weights_[perm, 0, 0], model.bias_[perm, 0]])


# --------------------------------------------------------------------------- recovery
def test_covariate_glmhmm_recovers_states_coupling_and_stimulus_kernels():
    sim = spikes.generate(seed=0, n_states=3, n_neurons=10, n_bins=2000, n_sequences=24,
                          n_stimuli=2, kernel_bins=8, stay=0.99, stimulus_rate=4.0)
    parts = sequences(sim.data)
    U = event_regressors(sim.data, n_lags=8)
    covs = [U.sel(time=p["time"].values) for p in parts]
    tr = sim.truth
    truth = GLMHMM.from_params(tr["weights"].values, tr["bias"].values, tr["transmat"].values,
                               input_weights=tr["input_weights"].values, link="sigmoid")
    assert truth.inputs == "both"
    m = GLMHMM(3, link="sigmoid", inputs="both", random_state=0).fit(parts[:20], covs[:20])
    assert m.covariates_ == [str(c) for c in U["covariate"].values]
    acc, acc0, r, gap = _recovery(
        m, truth, parts[20:], covs[20:], None, tr["hidden_state"].values[-4 * 2000:], 3,
        lambda p: np.concatenate([m.weights_[p].ravel(), m.input_weights_[p].ravel()]),
        np.concatenate([tr["weights"].values.ravel(), tr["input_weights"].values.ravel()]))
    assert acc >= acc0 - 0.02 and r >= 0.9 and gap <= 0.01
    # the stimulus kernels matter: without them the true model predicts worse
    no_input = GLMHMM.from_params(tr["weights"].values, tr["bias"].values, tr["transmat"].values,
                                  input_weights=0 * tr["input_weights"].values, link="sigmoid")
    assert no_input.score(parts[20:], covs[20:]) < truth.score(parts[20:], covs[20:]) - 0.003


@pytest.fixture(scope="module")
def choices():
    """Ashwood et al.'s 3-state simulation: 40 sessions of 100 trials, 2 % without a choice."""
    sim = behavior.generate(seed=0, n_sessions=40, n_trials=100, p_missing=0.02)
    return sim, trial_design(sim.data)


def test_bernoulli_choices_recover_ashwood_weights_states_and_transitions(choices):
    sim, d = choices
    truth = _choice_truth(sim.truth)
    m = GLMHMM(3, emission="bernoulli", link="sigmoid", inputs="covariates", n_init=3,
               random_state=0).fit(d["X"][:30], d["covariates"][:30], d["mask"][:30])
    assert m.init_ == "glm" and not m.share_bias_
    w0 = np.concatenate([sim.truth["weights"].values[:, 0], sim.truth["bias"].values])
    states = sim.truth["hidden_state"].values.reshape(40, 100)[30:]
    acc, acc0, r, gap = _recovery(m, truth, d["X"][30:], d["covariates"][30:], d["mask"][30:],
                                  states, 3, _choice_weights(m), w0)
    assert acc >= acc0 - 0.02 and r >= 0.9 and gap <= 0.01
    perm, _ = match_states(states.ravel(), np.concatenate(
        m.predict(d["X"][30:], d["covariates"][30:], d["mask"][30:])), 3)
    np.testing.assert_allclose(m.transmat_[np.ix_(perm, perm)], sim.truth["transmat"].values,
                               atol=0.05)


def test_input_driven_transitions_recover_their_weights():
    sim = behavior.generate(seed=1, n_sessions=60, n_trials=100, arousal=True)
    d = trial_design(sim.data, covariates=("stimulus", "arousal"))
    tw0 = sim.truth["transition_weights"].values[:, 0]
    truth = _choice_truth(sim.truth, np.stack([np.zeros(3), tw0], 1), n_extra=1)
    m = GLMHMM(3, emission="bernoulli", link="sigmoid", inputs="covariates",
               transitions="input_driven", random_state=0).fit(d["X"][:50], d["covariates"][:50])
    states = sim.truth["hidden_state"].values.reshape(60, 100)[50:]
    w0 = np.concatenate([sim.truth["weights"].values[:, 0], sim.truth["bias"].values])
    acc, acc0, r, gap = _recovery(m, truth, d["X"][50:], d["covariates"][50:], None, states,
                                  3, _choice_weights(m), w0)
    assert acc >= acc0 - 0.02 and r >= 0.9 and gap <= 0.01
    perm, _ = match_states(states.ravel(), np.concatenate(
        m.predict(d["X"][50:], d["covariates"][50:])), 3)
    tw = m.transition_weights_[perm, 1]
    # identified up to a shift shared by the destination states
    np.testing.assert_allclose(tw - tw.mean(), tw0 - tw0.mean(), atol=0.3)
    stationary = _choice_truth(sim.truth, None, n_extra=1)
    assert m.score(d["X"][50:], d["covariates"][50:]) > stationary.score(
        d["X"][50:], d["covariates"][50:]) + 0.03


@pytest.mark.slow
def test_pooled_sessions_global_then_per_subject_fits_recover_each_subject():
    subjects, held_out = {}, {}
    for i, n_trials in enumerate((80, 100, 120)):  # jagged: sessions of different lengths
        sim = behavior.generate(seed=0, subject=f"{i + 1:02d}", n_sessions=40,
                                n_trials=n_trials, subject_sd=1.0, p_missing=0.03)
        d = trial_design(sim.data)
        subjects[f"{i + 1:02d}"] = {k: d[k][:30] for k in ("X", "covariates", "mask")}
        held_out[f"{i + 1:02d}"] = (sim, {k: d[k][30:] for k in ("X", "covariates", "mask")},
                                    n_trials)
    glob, per = fit_global_and_subjects(subjects, n_init=3, n_states=3, emission="bernoulli",
                                        link="sigmoid", inputs="covariates", l2=0.25,
                                        random_state=0)
    gain = []
    for s, (sim, d, n) in held_out.items():
        truth = _choice_truth(sim.truth)
        w0 = np.concatenate([sim.truth["weights"].values[:, 0], sim.truth["bias"].values])
        states = sim.truth["hidden_state"].values.reshape(40, n)[30:]
        acc, acc0, r, gap = _recovery(per[s], truth, d["X"], d["covariates"], d["mask"],
                                      states, 3, _choice_weights(per[s]), w0)
        assert acc >= acc0 - 0.02 and r >= 0.9 and gap <= 0.01
        gain.append(per[s].score(d["X"], d["covariates"], d["mask"])
                    - glob.score(d["X"], d["covariates"], d["mask"]))
    assert np.mean(gain) > 0.002  # each subject is predicted better by its own fit


def test_categorical_choices_recover_class_weights():
    rng = np.random.default_rng(0)
    W = np.array([[[3.0], [-3.0]], [[0.5], [0.5]]])  # (state, class 1..2, covariate)
    b = np.array([[0.0, 0.0], [1.0, -1.0]])
    P = np.array([[0.97, 0.03], [0.05, 0.95]])
    U = rng.normal(size=(40, 200, 1))
    z = np.zeros((40, 200), int)
    for t in range(1, 200):
        z[:, t] = np.where(rng.random(40) < P[z[:, t - 1], z[:, t - 1]], z[:, t - 1],
                           1 - z[:, t - 1])
    eta = np.concatenate([np.zeros((40, 200, 1)),
                          np.einsum("btm,btkm->btk", U, W[z]) + b[z]], -1)
    p = np.exp(eta - eta.max(-1, keepdims=True))
    y = (rng.random((40, 200, 1)) > (p / p.sum(-1, keepdims=True)).cumsum(-1)).sum(-1)
    X, Us = list(y.astype(float)), list(U)
    truth = GLMHMM.from_params(input_weights=W[:, None], bias=b[:, None], transmat=P,
                               startprob=[0.5, 0.5], emission="categorical")
    m = GLMHMM(2, emission="categorical", inputs="covariates", random_state=0,
               n_init=3).fit(X[:30], Us[:30])
    assert m.n_classes_ == 3 and m.input_weights_.shape == (2, 1, 2, 1)
    acc, acc0, r, gap = _recovery(m, truth, X[30:], Us[30:], None, z[30:], 2,
                                  lambda p: np.concatenate([m.input_weights_[p].ravel(),
                                                            m.bias_[p].ravel()]),
                                  np.concatenate([W.ravel(), b.ravel()]))
    assert acc >= acc0 - 0.02 and r >= 0.9 and gap <= 0.01


# --------------------------------------------------------------------------- pieces
def test_masked_values_do_not_change_the_fit(choices):
    _, d = choices
    X = [x.copy() for x in d["X"][:10]]
    other = [np.where(m, x, 1 - x) for x, m in zip(X, d["mask"][:10], strict=True)]
    nan = [np.where(m, x, np.nan) for x, m in zip(X, d["mask"][:10], strict=True)]
    kw = dict(n_states=2, emission="bernoulli", link="sigmoid", inputs="covariates",
              random_state=0, max_iter=20)
    fits = [GLMHMM(**kw).fit(x, d["covariates"][:10], d["mask"][:10]) for x in (X, other, nan)]
    for f in fits[1:]:
        np.testing.assert_allclose(f.input_weights_, fits[0].input_weights_, atol=1e-10)
    assert sum(m.sum() for m in d["mask"][:10]) < 1000  # some trials were masked
    with pytest.raises(InputError, match="NaN or Inf at bin"):
        GLMHMM(**kw).fit(nan, d["covariates"][:10])


def test_trial_design_history_terms_follow_ashwood():
    table = {"session": ["a"] * 5 + ["b"] * 2, "stimulus": [0.5, -1, 0, 0.25, 1, 1, -1],
             "choice": [1, np.nan, 0, 1, 1, 0, 1], "reward": [1, 0, 0, 1, 1, 0, 1]}
    ds = schema_trials.validate_trials(schema_trials.build_trials(pd.DataFrame(table)))
    d = trial_design(ds, covariates=("stimulus", "prev_choice", "wsls"))
    assert d["sessions"] == ["a", "b"]
    # prev_choice: the last choice with a response (-1/+1), 0 before the first
    np.testing.assert_array_equal(d["covariates"][0][:, 1], [0, 1, 1, -1, 1])
    # wsls: previous choice * (+1 rewarded, -1 not)
    np.testing.assert_array_equal(d["covariates"][0][:, 2], [0, 1, 1, 1, 1])
    np.testing.assert_array_equal(d["covariates"][1][:, 1], [0, -1])
    np.testing.assert_array_equal(d["mask"][0], [True, False, True, True, True])
    with pytest.raises(InputError, match="no column 'contrast'"):
        trial_design(ds, covariates=("contrast",))


def test_lapse_model_recovers_lapse_rates_and_bits_per_trial_is_a_gain_over_chance():
    rng = np.random.default_rng(0)
    u = rng.choice(behavior.CONTRASTS, size=(20000, 1))
    p = 0.1 + (1 - 0.1 - 0.05) / (1 + np.exp(-(5 * u[:, 0] - 0.5)))
    y = (rng.random(20000) < p).astype(float)
    two = LapseModel(n_lapse=2, random_state=0).fit([y], [u])
    np.testing.assert_allclose(two.lapse_, [0.1, 0.05], atol=0.02)
    np.testing.assert_allclose([two.weights_[0], two.bias_], [5, -0.5], atol=0.5)
    one = LapseModel(n_lapse=1, random_state=0).fit([y], [u])
    assert two.loglik_ > one.loglik_
    ll0 = baseline_loglik([y[:10000]], [y[10000:]])
    bits = bits_per_trial(two.loglik([y[10000:]], [u[10000:]]), ll0, 10000)
    assert 0.2 < bits < 1.0
    assert bits_per_trial(ll0, ll0, 10000) == 0.0


def test_folds_keep_groups_together(choices):
    _, d = choices
    groups = np.repeat(np.arange(5), 4)
    best, scores = select_n_states(d["X"][:20], (1, 3), 3, covariates=d["covariates"][:20],
                                   mask=d["mask"][:20], groups=groups, emission="bernoulli",
                                   link="sigmoid", inputs="covariates", max_iter=30)
    assert best == 3 and scores.attrs["folds_over"] == "sequences"


@pytest.mark.parametrize("kwargs, fit, message", [
    ({"inputs": "covariates"}, {}, "covariates are required"),
    ({"inputs": "covariates", "init": "kmeans"}, {"covariates": np.ones((20, 1))},
     "init='glm'"),
    ({"inputs": "both"}, {"covariates": [np.ones((20, 1))] * 2}, "2 sequences for 1"),
    ({"inputs": "both"}, {"covariates": np.ones((19, 1))}, "19 rows for 20 bins"),
    ({"inputs": "both"}, {"covariates": np.full((20, 1), np.nan)}, "NaN or Inf"),
    ({"transitions": "input-driven"}, {}, "did you mean 'input_driven'"),
    ({"emission": "categorical", "n_classes": 1}, {}, "n_classes=1"),
    ({"prior": "onehot", "inputs": "both"}, {}, "prior='onehot'"),
])
def test_bad_covariate_input_gives_one_line_error(kwargs, fit, message):
    with pytest.raises(InputError) as err:
        GLMHMM(**kwargs).fit(np.ones((20, 3)), **fit)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
