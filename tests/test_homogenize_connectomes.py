"""Connectome annotations merged on the canonical neurons: totals, symmetry, consensus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neurodag import connectome, reference, store
from neurodag.errors import InputError
from neurodag.homogenize import connectomes
from neurodag.homogenize.names import canonical_neurons


def _graph(cells, annotation, units="synapse count", **weights):
    n = len(cells)
    mats = {}
    for syn, edges in weights.items():
        m = np.zeros((n, n))
        for (a, b), w in edges.items():
            m[cells.index(a), cells.index(b)] = w
        mats[syn] = m
    return connectome.build(mats, cells=cells, units=units, annotation=annotation)


@pytest.fixture(scope="module")
def sources():
    a = _graph(["AVAL", "AVAR", "VB01", "BWM", "AWCON"], "A",
               chemical={("AVAL", "AVAR"): 4, ("AVAR", "VB01"): 2, ("VB01", "BWM"): 7,
                         ("AWCON", "AVAL"): 5},
               electrical={("AVAL", "AVAR"): 3, ("AVAR", "VB01"): 1, ("VB01", "AVAR"): 1})
    b = _graph(["AVAL", "AVAR", "RIML"], "B", units="EM sections",
               chemical={("AVAL", "AVAR"): 2, ("AVAL", "RIML"): 6})
    q = np.full((3, 3), np.nan)
    q[0, 1], q[1, 0], q[0, 2] = 0.01, 0.2, 0.04
    f = _graph(["AVAL", "AVAR", "RIML"], "F", units="dF/F",
               functional={("AVAL", "AVAR"): 0.3, ("AVAR", "AVAL"): -0.1, ("AVAL", "RIML"): -0.2})
    f["q_value"] = (("pre", "post"), q)
    return {"A": a, "B": b, "F": f}


@pytest.fixture(scope="module")
def merged(sources):
    return connectomes.merge(sources)


def test_merged_axes_are_canonical_neurons_and_all_synapse_types(merged):
    assert merged["weight"].dims == ("annotation", "pre", "post", "synapse")
    assert list(merged["pre"].values) == list(canonical_neurons())
    assert list(merged["annotation"].values) == ["A", "B", "F"]
    assert list(merged["synapse"].values) == ["chemical", "electrical", "functional"]
    assert list(merged["units"].values) == ["synapse count", "EM sections", "dF/F"]


def test_totals_equal_each_source_restricted_to_canonical_neurons(merged):
    tot = merged["total"].to_pandas()
    src = merged["total_source"].to_pandas()
    canon = merged["total_canonical"].to_pandas()
    # A: chemical 4 + 2 + 7 (VB01 -> BWM) + 5 (AWCON -> AVAL); BWM and AWCON are dropped
    assert src.loc["A", "chemical"] == 18 and canon.loc["A", "chemical"] == 6
    assert tot.loc["A", "chemical"] == 6
    assert tot.loc["B", "chemical"] == canon.loc["B", "chemical"] == src.loc["B", "chemical"] == 8
    assert tot.loc["F", "functional"] == pytest.approx(0.0)          # 0.3 - 0.1 - 0.2
    assert np.isnan(tot.loc["B", "electrical"]) and np.isnan(tot.loc["A", "functional"])
    assert json.loads(merged["dropped_cells"].sel(annotation="A").item()) == ["BWM", "AWCON"]
    assert int(merged["n_neurons"].sel(annotation="A")) == 3
    assert json.loads(merged.attrs["renamed"]) == {"A": {"VB01": "VB1"}}


def test_gap_junctions_are_symmetrised_by_the_larger_direction(merged):
    gap = merged["weight"].sel(annotation="A", synapse="electrical")
    assert float(gap.sel(pre="AVAL", post="AVAR")) == float(gap.sel(pre="AVAR", post="AVAL")) == 3
    assert float(gap.sel(pre="VB1", post="AVAR")) == 1                # already both ways
    assert float(merged["electrical_asymmetry"].sel(annotation="A")) == 6.0   # 3 listed once
    # a one-way gap junction now counts both ways: the only way totals can change
    tot = merged.sel(annotation="A", synapse="electrical")
    assert float(tot["total_canonical"]) == 5.0 and float(tot["total"]) == 8.0
    w = merged["weight"].sel(synapse="electrical").values
    np.testing.assert_array_equal(w, np.swapaxes(w, 1, 2))


def test_consensus_counts_means_and_spread_over_covering_annotations(merged):
    c = merged.sel(synapse="chemical")
    pair = c.sel(pre="AVAL", post="AVAR")
    assert int(pair["n_covering"]) == 2 and int(pair["n_reporting"]) == 2
    assert float(pair["mean_weight"]) == 3.0 and float(pair["std_weight"]) == 1.0
    # AVAL -> RIML: only B has RIML, so only B covers the pair
    riml = c.sel(pre="AVAL", post="RIML")
    assert int(riml["n_covering"]) == 1 and float(riml["mean_weight"]) == 6.0
    # AVAR -> AVAL: both cover, neither reports: a covered zero
    rev = c.sel(pre="AVAR", post="AVAL")
    assert int(rev["n_covering"]) == 2 and int(rev["n_reporting"]) == 0
    assert float(rev["mean_weight"]) == 0.0
    # pairs nobody covers have no consensus
    assert np.isnan(float(c["mean_weight"].sel(pre="ADAL", post="ADAR")))
    assert int(c["n_covering"].sel(pre="ADAL", post="ADAR")) == 0
    # normalised: A's chemical edges (4, 2) have mean 3; B's (2, 6) mean 4
    assert float(merged["scale"].sel(annotation="A", synapse="chemical")) == 3.0
    assert float(pair["mean_normalized"]) == pytest.approx((4 / 3 + 2 / 4) / 2)


def test_functional_edges_are_the_significant_measured_pairs(merged):
    f = merged.sel(annotation="F", synapse="functional")
    assert bool(f["edge"].sel(pre="AVAL", post="AVAR"))               # q = 0.01
    assert not bool(f["edge"].sel(pre="AVAR", post="AVAL"))           # q = 0.2
    assert bool(f["edge"].sel(pre="AVAL", post="RIML"))               # q = 0.04
    assert not bool(f["covered"].sel(pre="RIML", post="AVAL"))        # not measured
    assert float(f["weight"].sel(pre="AVAR", post="AVAL")) == -0.1    # weights kept as given
    assert np.isnan(float(merged["q_value"].sel(annotation="A", pre="AVAL", post="AVAR")))


def test_jaccard_compares_edge_sets_on_common_pairs(merged):
    chem = connectomes.jaccard(merged, "chemical")
    # on pairs both cover (AVAL, AVAR): A {AVAL->AVAR}, B {AVAL->AVAR}
    assert float(chem.sel(annotation="A", other="B")) == 1.0
    everywhere = connectomes.jaccard(merged, "chemical", common=False)
    # A {AVAL->AVAR, AVAR->VB1}, B {AVAL->AVAR, AVAL->RIML}: 1 shared of 3
    assert float(everywhere.sel(annotation="A", other="B")) == pytest.approx(1 / 3)
    assert np.isnan(float(chem.sel(annotation="A", other="F")))      # F has no chemical edge
    pooled = connectomes.jaccard(merged)
    assert float(pooled.sel(annotation="A", other="F")) == pytest.approx(1 / 2)


def test_two_cells_that_are_one_neuron_are_refused():
    g = _graph(["VB01", "VB1"], "dup", chemical={("VB01", "VB1"): 1})
    with pytest.raises(InputError, match="cells 'VB01' and 'VB1' are both neuron VB1"):
        connectomes.merge({"dup": g})


def test_bad_inputs_are_one_line_errors(sources):
    with pytest.raises(InputError, match="no connectomes"):
        connectomes.merge({})
    with pytest.raises(InputError, match="occur twice"):
        connectomes.merge([sources["A"], sources["A"]])
    bad = sources["A"].copy()
    bad.attrs["convention"] = "[post, pre]"
    with pytest.raises(InputError, match="annotation A: convention"):
        connectomes.merge({"A": bad})


def test_merged_connectome_round_trips_through_zarr(merged, tmp_path):
    path = store.write_dataset(merged, tmp_path / "connectome.zarr")
    back = store.read_dataset(path).load()
    np.testing.assert_array_equal(back["edge"].values, merged["edge"].values)
    np.testing.assert_array_equal(back["mean_weight"].values, merged["mean_weight"].values)
    assert back["covered"].dtype == bool and back.attrs["convention"] == "[pre, post]"


# -- the real annotations (network) ------------------------------------------------------


@pytest.fixture(scope="module")
def real_cache(reference_cache) -> Path:
    reference_cache("cect")
    return reference_cache("wormneuroatlas")


def _json_totals(path: Path) -> dict[str, tuple[float, float]]:
    """(all cells, canonical cells only) totals per synapse type, straight from the JSON."""
    data = json.loads(path.read_text())
    canon = set(canonical_neurons())
    keep = np.array([c in canon for c in data["nodes"]])
    out: dict[str, list[float]] = {}
    for cls, rows in data["connections"].items():
        syn = connectome.CECT_CLASSES.get(cls, "chemical")
        m = np.asarray(rows, dtype=np.float64)
        acc = out.setdefault(syn, [0.0, 0.0])
        acc[0] += m.sum()
        acc[1] += m[np.ix_(keep, keep)].sum()
    # the file's own summary text states the same totals over all its cells
    stated: dict[str, float] = {}
    for cls, (_, total) in connectome.cect_summary_totals(data.get("summary", "")).items():
        syn = connectome.CECT_CLASSES.get(cls, "chemical")
        stated[syn] = stated.get(syn, 0.0) + total
    assert all(stated[k] == pytest.approx(v[0], abs=1) for k, v in out.items() if k in stated)
    return {k: tuple(v) for k, v in out.items()}


@pytest.mark.slow
@pytest.mark.network
def test_real_annotations_merge_with_their_own_totals(real_cache):
    merged = connectomes.merge(connectomes.load_references(real_cache))
    assert merged.sizes["annotation"] == 15 >= 9
    for name, (ref, sess) in connectomes.DEFAULT_ANNOTATIONS.items():
        if ref != "cect":
            continue
        member = reference.sessions("cect")[sess]["files"][0]
        want = _json_totals(real_cache / member)
        for syn, (total, canon) in want.items():
            got = merged.sel(annotation=name, synapse=syn)
            assert float(got["total_source"]) == total
            assert float(got["total_canonical"]) == float(got["total"]) == canon
    tot = merged["total"].to_pandas()
    # White 1986 whole (Varshney's reanalysis): 7943 chemical contacts, 6509 between neurons
    assert tot.loc["white1986_whole", "chemical"] == 6509
    assert tot.loc["white1986_whole", "electrical"] == 1916
    assert tot.loc["cook2019_herm", "chemical"] == 20905
    assert tot.loc["witvliet2021_8", "chemical"] == 7099
    # WormNeuroAtlas: all 298 of its cells but AWCON/AWCOFF are canonical, and those two
    # have no anatomical synapses, so its totals are unchanged
    assert tot.loc["wormneuroatlas", "chemical"] == 27729
    assert tot.loc["wormneuroatlas", "electrical"] == 5079
    assert json.loads(merged["dropped_cells"].sel(annotation="wormneuroatlas").item()) == [
        "AWCOFF", "AWCON"]
    assert tot.loc["randi2023", "functional"] == pytest.approx(880.0159, abs=1e-3)
    assert float(merged["electrical_asymmetry"].max()) == 0.0
    jac = connectomes.jaccard(merged, "chemical")
    # Varshney 2011 reanalysed White's data: the same chemical edges on common pairs
    assert float(jac.sel(annotation="white1986_whole", other="varshney2011")) == 1.0
    assert 0.2 < float(jac.sel(annotation="witvliet2021_1", other="witvliet2021_8")) < 0.8


def test_agreement_figure_writes_the_jaccard_numbers(merged, tmp_path):
    from neurodag.report import homogenize as report

    png, js, caption = report.plot_agreement(merged, tmp_path / "agreement.png")
    numbers = json.loads(js.read_text())
    assert png.stat().st_size > 5_000 and numbers["annotations"] == ["A", "B", "F"]
    assert numbers["jaccard"]["chemical"][0][1] == 1.0
    assert numbers["jaccard"]["any"][0][2] == 0.5
    assert numbers["edges"]["chemical"] == [2, 2, 0]
    assert "3 connectome annotations" in caption
