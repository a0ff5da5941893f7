"""Community detection, weighted LFR benchmark, planted dynamic communities, connectome worms."""

from __future__ import annotations

import numpy as np
import pytest

from neurodag import schema
from neurodag.errors import ConfigError, InputError
from neurodag.models.ntf import communities as comm
from neurodag.synth.communities import lfr_weighted, planted


def _two_cliques(n=6, bridge=0.1):
    w = np.zeros((2 * n, 2 * n))
    w[:n, :n] = w[n:, n:] = 1.0
    w[0, n] = w[n, 0] = bridge
    np.fill_diagonal(w, 0)
    return w


@pytest.mark.parametrize("method", ["leiden", "louvain"])
def test_two_weighted_cliques_are_found(method):
    w = np.pad(_two_cliques(), (0, 1))            # + one isolated vertex
    labels = comm.detect(w, method, seed=0)
    assert labels[-1] == -1
    assert comm.nmi(np.repeat([0, 1], 6), labels[:-1]) == pytest.approx(1.0)


def test_weights_not_just_edges_decide_the_split():
    # a complete graph whose heavy edges form two groups
    w = np.full((10, 10), 0.05)
    w[:5, :5] = w[5:, 5:] = 1.0
    np.fill_diagonal(w, 0)
    assert comm.nmi(np.repeat([0, 1], 5), comm.detect(w, "leiden")) == pytest.approx(1.0)


def test_detection_is_deterministic_for_a_seed():
    w, _ = lfr_weighted(mu_t=0.5, seed=1)
    for method in ("leiden", "louvain"):
        np.testing.assert_array_equal(comm.detect(w, method, seed=3), comm.detect(w, method, seed=3))


def test_bad_weights_and_methods_are_one_line_errors():
    with pytest.raises(InputError, match="non-negative"):
        comm.detect(-_two_cliques())
    with pytest.raises(ConfigError, match="'spectral' is not one of"):
        comm.detect(_two_cliques(), "spectral")


def test_sbm_without_graspologic_says_what_is_missing():
    try:
        import graspologic  # noqa: F401
        pytest.skip("graspologic is installed here")
    except ImportError:
        pass
    with pytest.raises(ConfigError, match="needs graspologic"):
        comm.detect(_two_cliques(), "sbm")


# ------------------------------------------------------------------------- weighted LFR


def test_lfr_graph_has_the_requested_size_degree_and_weight_mixing():
    w, labels = lfr_weighted(mu_t=0.4, mu_w=0.3, seed=2)
    assert w.shape == (125, 125) and (w == w.T).all() and (np.diag(w) == 0).all()
    same = labels[:, None] == labels[None, :]
    degree = (w > 0).sum(1)
    assert 18 <= degree.mean() <= 27 and degree.max() <= 100
    assert (w * ~same).sum() / w.sum() == pytest.approx(0.3, abs=0.03)     # weight mixing
    assert ((w > 0) & ~same).sum() / (w > 0).sum() == pytest.approx(0.4, abs=0.1)
    assert labels.min() == 0 and np.bincount(labels).min() >= 10


def test_lfr_nmi_decreases_with_mixing():
    mixing = (0.25, 0.5, 0.75)
    scores = {m: [np.mean([comm.nmi(lab, comm.detect(w, m, seed=s))
                           for s, (w, lab) in enumerate(lfr_weighted(mu_t=mu, seed=s)
                                                        for s in range(3))])
                  for mu in mixing] for m in ("leiden", "louvain")}
    for m, s in scores.items():
        assert s[0] >= 0.7, (m, s)
        assert s[0] > s[1] > s[2], (m, s)
        assert s[2] <= 0.4, (m, s)


def test_lfr_rejects_mixing_outside_zero_one():
    with pytest.raises(InputError, match="mu_t must be in"):
        lfr_weighted(mu_t=1.5)


# ------------------------------------------------------------------------- planted simulation


def test_planted_simulation_truth_is_consistent():
    sim = planted(seed=4, missing=0.1)
    tr = sim.truth
    assert len(sim.traces) == tr.sizes["animal_id"] == 6
    assert all(x.shape == (720, 60) for x in sim.traces)
    assert (np.bincount(tr["membership"].values[0]) == 20).all()
    on = tr["epochs_on"].values
    assert (on.sum(0) >= 1).all() and (on.sum(1) >= 2).all()
    assert tr["temporal"].sizes["window"] == 23
    # a window covering one 'on' epoch and half an 'off' one has truth 0.5
    assert set(np.round(np.unique(tr["temporal"].values), 6)) <= {0.0, 0.5, 1.0}
    for a, x in enumerate(sim.traces):
        assert (x[:, ~sim.mask[a]] == 0).all() and (~sim.mask[a]).sum() == 6


def test_members_of_an_active_community_covary_in_the_traces():
    sim = planted(seed=5, noise=0.2, private=0.0, n_factors=2)
    tr = sim.truth
    a = int(np.argmax(tr["gain"].values[0]))
    on = tr["envelope"].values[0] > 0
    only = on & (tr["envelope"].values[1] == 0)
    x = sim.traces[a][only]
    lab = tr["membership"].values[0]
    c = np.corrcoef(x.T)
    same = (lab[:, None] == lab[None, :]) & ~np.eye(lab.size, dtype=bool)
    assert c[same].mean() > 0.7 and abs(c[~same & ~np.eye(lab.size, dtype=bool)].mean()) < 0.1


# ------------------------------------------------------------------------- connectome worms


@pytest.fixture(scope="module")
def cook(reference_cache):
    from neurodag import reference

    return reference.read("cect", "cook2019_herm", reference_cache("cect"))


def test_worm_network_uses_the_real_connectome_with_gabaergic_inhibition(cook):
    from neurodag.synth import worm_network as wn

    net = wn.network(cook)
    idx = {n: i for i, n in enumerate(net.neurons)}
    assert len(net.neurons) == 300
    assert net.chemical[idx["ASHL"], idx["AVAL"]] > 0          # nociceptor -> command
    assert net.electrical[idx["AVAL"], idx["AVAR"]] > 0
    assert (net.electrical == net.electrical.T).all()
    for pre, sign in (("DD1", -1), ("RIS", -1), ("ASHL", 1), ("AVAL", 1)):
        j = idx[pre]
        chem_only = np.flatnonzero((net.chemical[j] > 0) & (net.electrical[j] == 0))
        assert chem_only.size > 0
        # GABAergic neurons inhibit, the others excite (beyond the small global inhibition)
        assert (np.sign(net.coupling[chem_only, j] + 1.0 / 300) == sign).all(), pre


@pytest.mark.slow
def test_simulated_worms_are_calcium_contracts_and_respond_to_their_stimulus(cook):
    from neurodag.synth import worm_network as wn

    protocol = (("baseline", 30.0), ("posterior_touch", 30.0))
    recs, truth, _ = wn.simulate(cook, n_animals=2, seed=1, protocol=protocol)
    assert list(recs) == ["worm0", "worm1"]
    for ds in recs.values():
        schema.validate(ds)
        assert ds.attrs["modality"] == "calcium" and 2.0 <= ds.attrs["sfreq"] <= 4.0
    x = truth["activity"].sel(neuron="PLML").values
    t = truth["time"].values
    for a in range(2):
        assert x[a, t >= 30].std() > 2 * x[a, t < 30].std()


@pytest.mark.slow
def test_touch_pulses_reach_the_command_interneurons_through_the_connectome(cook):
    from neurodag.synth import worm_network as wn

    protocol = (("baseline", 20.0), ("posterior_touch", 100.0))
    _, truth, _ = wn.simulate(cook, n_animals=1, seed=0, protocol=protocol)
    s = truth["stimulus"].values[0].sum(1)
    design = np.stack([np.roll(s, lag) for lag in (0, 10, 20, 40, 60)] + [np.ones_like(s)], 1)

    def r2(name):
        y = truth["activity"].sel(neuron=name).values[0]
        beta = np.linalg.lstsq(design, y, rcond=None)[0]
        return 1 - np.var(y - design @ beta) / np.var(y)

    # PLM -> PVC (forward command) is a direct chemical and gap-junction path
    assert r2("PVCL") >= 0.3 and r2("PVCR") >= 0.3
    assert r2("AVBL") >= 0.1                    # two synapses away
    # an amphid neuron far from the touch circuit follows much less (global inhibition only)
    assert r2("ADLL") < 0.6 * min(r2("PVCL"), r2("PVCR"))
