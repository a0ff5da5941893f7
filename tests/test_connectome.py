"""The connectome contract and its readers: orientation [pre, post], totals, validation.

Offline tests build small files in the sources' own layouts (cect JSON with its summary
text, WormNeuroAtlas HDF5 stored [post, pre]). Tests marked ``network`` fetch the real
wheels (cect, wormneuroatlas) once per session and check totals and published edges.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from neurodag import connectome, provenance, reference
from neurodag.errors import ContractError, InputError

network = pytest.mark.network
CELLS = ["AVAL", "AVAR", "AIYL", "AIZL"]


def _cect_summary(nodes, conns) -> str:
    """cect's own summary text (ConnectomeDataset.summary), for the given matrices."""
    text = f"Nodes present ({len(nodes)}): {sorted(nodes)}\n"
    for cls, mat in conns.items():
        mat = np.asarray(mat, dtype=float)
        text += (f"- Connection type - {cls}: {mat.shape}, {np.count_nonzero(mat)} non-zero "
                 f"entries, sum of entries = {int(np.sum(mat))}\n{mat}\n")
    return text


def _write_cect(path, conns, nodes=CELLS, summary=True):
    data = {"nodes": nodes, "connections": {k: np.asarray(v).tolist() for k, v in conns.items()}}
    if summary:
        data["summary"] = _cect_summary(nodes, conns)
    path.write_text(json.dumps(data))
    return path


def _matrices():
    cs = np.zeros((4, 4))
    cs[2, 3] = 13.0  # AIYL -> AIZL, with nothing back
    cs[0, 1], cs[1, 0] = 2.0, 1.0  # AVAL -> AVAR 2, AVAR -> AVAL 1
    gj = np.zeros((4, 4))
    gj[0, 1] = gj[1, 0] = 5.0
    return cs, gj


@pytest.fixture
def cect_file(tmp_path):
    cs, gj = _matrices()
    return _write_cect(tmp_path / "Small.json", {"Generic_GJ": gj, "Generic_CS": cs})


def test_cect_edges_keep_their_direction(cect_file):
    w = connectome.read_cect(cect_file)["weight"]
    assert w.sel(pre="AIYL", post="AIZL", synapse="chemical") == 13.0
    assert w.sel(pre="AIZL", post="AIYL", synapse="chemical") == 0.0
    assert w.sel(pre="AVAL", post="AVAR", synapse="chemical") == 2.0
    assert w.sel(pre="AVAR", post="AVAL", synapse="chemical") == 1.0


def test_cect_totals_equal_the_stored_matrices(cect_file):
    ds = connectome.read_cect(cect_file)
    totals = ds["weight"].sum(("pre", "post"))
    assert totals.sel(synapse="chemical") == 16.0
    assert totals.sel(synapse="electrical") == 10.0
    assert ds.attrs["convention"] == "[pre, post]"
    assert ds.attrs["source_sha256"] == provenance.sha256_file(cect_file)


def test_cect_matrix_that_disagrees_with_its_summary_is_refused(tmp_path):
    cs, gj = _matrices()
    path = _write_cect(tmp_path / "Lying.json", {"Generic_CS": cs, "Generic_GJ": gj})
    data = json.loads(path.read_text())
    data["connections"]["Generic_CS"][2][3] = 12.0  # the summary still says 16 in total
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"Lying\.json: Generic_CS has 3 edges summing to 15") \
            as err:
        connectome.read_cect(path)
    assert "\n" not in str(err.value)


def test_cect_neurotransmitter_classes_sum_into_chemical_and_stay_per_class(tmp_path):
    ach = np.zeros((4, 4))
    ach[2, 3] = 4.0
    gaba = np.zeros((4, 4))
    gaba[2, 3] = 3.0
    gaba[0, 1] = 1.0
    path = _write_cect(tmp_path / "Nt.json", {"Acetylcholine": ach, "GABA": gaba})
    ds = connectome.read_cect(path)
    assert ds["weight"].sel(pre="AIYL", post="AIZL", synapse="chemical") == 7.0
    per_class = ds["class_weight"].sum(("pre", "post"))
    assert per_class.sel(synapse_class="GABA") == 4.0
    assert per_class.sel(synapse_class="Acetylcholine") == 4.0
    assert list(ds["synapse"].values) == ["chemical"]


def test_cect_extrasynaptic_class_is_refused(tmp_path):
    path = _write_cect(tmp_path / "Ma.json", {"Dopamine": np.eye(4)})
    with pytest.raises(InputError, match="synapse class 'Dopamine' is extrasynaptic"):
        connectome.read_cect(path)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"nodes": ["A", "B"]}', "expected a cect connectome"),
    ('{"nodes": ["A", "A"], "connections": {"Generic_CS": [[0, 1], [0, 0]]}}',
     "duplicate cell names"),
    ('{"nodes": ["A", "B"], "connections": {"Generic_CS": [[0, 1, 2], [0, 0, 0]]}}',
     r"has shape \(2, 3\), expected \(2, 2\)"),
    ('{"nodes": ["A", "B"], "connections": {"Generic_GJ": [[0, -1], [-1, 0]]}}',
     r"electrical weight A->B is negative \(-1\)"),
])
def test_cect_malformed_file_gives_one_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        connectome.read_cect(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


# -- WormNeuroAtlas --------------------------------------------------------------------


@pytest.fixture
def atlas_files(tmp_path):
    """neuron_ids.txt in file order (not sorted) and an [post, pre] anatomical h5."""
    ids = ["AVAL", "AIZL", "AWCOFF", "AIYL"]  # NeuroAtlas sorts: AIYL AIZL AVAL AWCOFF
    (tmp_path / "neuron_ids.txt").write_text(
        "".join(f"{i:03d}\t{n}\n" for i, n in enumerate(ids)))
    order = sorted(ids)
    chem = np.zeros((4, 4))
    chem[order.index("AIZL"), order.index("AIYL")] = 45.0  # [post, pre]: AIYL -> AIZL
    gap = np.zeros((4, 4))
    gap[order.index("AVAL"), order.index("AIYL")] = gap[order.index("AIYL"),
                                                         order.index("AVAL")] = 3.0
    with h5py.File(tmp_path / "aconnectome_default.h5", "w") as h:
        h["chem"], h["gap"] = chem, gap
    return tmp_path


def test_wormneuroatlas_anatomical_is_transposed_to_pre_post(atlas_files):
    ds = connectome.read_wormneuroatlas(atlas_files / "aconnectome_default.h5")
    assert list(ds["pre"].values) == ["AIYL", "AIZL", "AVAL", "AWCOFF"]
    w = ds["weight"]
    assert w.sel(pre="AIYL", post="AIZL", synapse="chemical") == 45.0
    assert w.sel(pre="AIZL", post="AIYL", synapse="chemical") == 0.0
    assert w.sel(pre="AVAL", post="AIYL", synapse="electrical") == 3.0
    assert ds.attrs["units"] == "synapse count"
    assert len(ds.attrs["inputs"]) == 2  # the h5 and neuron_ids.txt


@pytest.fixture
def funatlas_file(tmp_path):
    ids = np.array([b"AIYL", b"AIZL", b"AWCOF"], dtype="S5")  # 5 bytes cut AWCOFF
    dff = np.full((3, 3), np.nan)
    q = np.full((3, 3), np.nan)
    occ = np.zeros((3, 3), dtype=np.int64)
    dff[1, 0], q[1, 0], occ[1, 0] = 0.3, 1e-5, 12  # AIZL responds to stimulation of AIYL
    dff[0, 1], q[0, 1], occ[0, 1] = -0.1, 0.2, 4  # AIYL responds weakly to AIZL
    path = tmp_path / "funatlas.h5"
    with h5py.File(path, "w") as h:
        h["neuron_ids"] = ids
        for strain in ("wt", "unc31"):
            h[f"{strain}/dFF"], h[f"{strain}/q"], h[f"{strain}/q_eq"] = dff, q, q
            h[f"{strain}/occ1"] = occ
    return path


def test_funatlas_response_of_i_to_j_becomes_pre_j_post_i(funatlas_file):
    ds = connectome.read_wormneuroatlas(funatlas_file, "functional", strain="wt")
    w = ds["weight"].sel(synapse="functional")
    assert w.sel(pre="AIYL", post="AIZL") == pytest.approx(0.3)
    assert w.sel(pre="AIZL", post="AIYL") == pytest.approx(-0.1)
    assert ds["q_value"].sel(pre="AIYL", post="AIZL") == pytest.approx(1e-5)
    assert ds["n_trials"].sel(pre="AIYL", post="AIZL") == 12


def test_funatlas_unmeasured_pairs_have_zero_weight_and_nan_q(funatlas_file):
    ds = connectome.read_wormneuroatlas(funatlas_file, "functional")
    assert "AWCOFF" in ds["pre"].values  # the truncated id is restored
    assert float(ds["weight"].sum()) == pytest.approx(0.2)
    assert int(np.isnan(ds["q_value"]).sum()) == 7


def test_funatlas_unknown_strain_names_the_strains(funatlas_file):
    with pytest.raises(InputError, match=r"no group 'mutant'.*\['unc31', 'wt'\]"):
        connectome.read_wormneuroatlas(funatlas_file, "functional", strain="mutant")


# -- validation and storage ------------------------------------------------------------


def _small():
    cs, gj = _matrices()
    return connectome.build({"chemical": cs, "electrical": gj}, cells=CELLS,
                            units="synapse count", annotation="test")


def _swap_post(ds):
    return ds.assign_coords(post=list(reversed(CELLS)))


def _negative(ds):
    ds["weight"][0, 1, 0] = -1.0
    return ds


def _nan(ds):
    ds["weight"][0, 1, 1] = np.nan
    return ds


@pytest.mark.parametrize("spoil, message", [
    (_swap_post, r"pre and post cells differ \(position 0: 'AVAL' vs 'AIZL'\)"),
    (_negative, r"chemical weight AVAL->AVAR is negative \(-1\)"),
    (_nan, "weight has NaN or Inf values"),
    (lambda ds: ds.isel(post=slice(0, 3)), r"not square \(4 pre x 3 post"),
    (lambda ds: ds.assign_coords(synapse=["chemical", "gap"]), r"synapse \['gap'\] not in"),
    (lambda ds: ds.drop_attrs(), "missing attribute"),
])
def test_validate_names_the_problem(spoil, message):
    with pytest.raises(ContractError, match=message) as err:
        connectome.validate(spoil(_small()), where="g.zarr")
    assert str(err.value).startswith("g.zarr: ")


def test_functional_weights_may_be_negative():
    ds = connectome.build({"functional": -np.eye(4)}, cells=CELLS, units="dF/F",
                          annotation="test")
    assert float(ds["weight"].sum()) == -4.0


def test_connectome_survives_a_zarr_round_trip(tmp_path):
    ds = _small()
    back = connectome.read(connectome.write(ds, tmp_path / "g.zarr"))
    np.testing.assert_array_equal(back["weight"].values, ds["weight"].values)
    assert list(back["pre"].values) == CELLS
    assert back.attrs["convention"] == "[pre, post]"


# -- the real sources (network) -----------------------------------------------------------


@pytest.fixture(scope="module")
def real_cache(reference_cache):
    reference_cache("cect")
    return reference_cache("wormneuroatlas")


@pytest.mark.slow
@network
def test_real_cect_totals_match_cect_summary_and_gap_junctions_are_symmetric(real_cache):
    for session in reference.sessions("cect"):
        ds = reference.read("cect", session, real_cache)
        path = real_cache / reference.sessions("cect")[session]["files"][0]
        stated = connectome.cect_summary_totals(json.loads(path.read_text())["summary"])
        totals = ds["weight"].sum(("pre", "post"))
        assert int(totals.sel(synapse="chemical")) == stated["Generic_CS"][1], session
        assert int(totals.sel(synapse="electrical")) == stated["Generic_GJ"][1], session
        gap = ds["weight"].sel(synapse="electrical").values
        np.testing.assert_array_equal(gap, gap.T, err_msg=session)


@pytest.mark.slow
@network
@pytest.mark.parametrize("session, aiyl_aizl, totals", [
    ("white1986_whole", 13, (7943, 1928)),
    ("varshney2011", 13, (7804, 1777)),
    ("cook2019_herm", 67, (28113, 23313)),
    ("witvliet2021_8", 10, (7970, 851)),
])
def test_real_cect_aiy_to_aiz_edge_has_its_published_count(real_cache, session, aiyl_aizl,
                                                           totals):
    w = reference.read("cect", session, real_cache)["weight"]
    assert w.sel(pre="AIYL", post="AIZL", synapse="chemical") == aiyl_aizl
    assert w.sel(pre="AIZL", post="AIYL", synapse="chemical") == 0  # one-way
    assert tuple(w.sum(("pre", "post")).values.astype(int)) == totals


@pytest.mark.slow
@network
def test_real_wormneuroatlas_anatomical_is_pre_post(real_cache):
    ds = reference.read("wormneuroatlas", "anatomical", real_cache)
    w = ds["weight"]
    assert ds.sizes["pre"] == 300
    assert tuple(w.sum(("pre", "post")).values) == (27729.0, 5079.0)
    assert w.sel(pre="AIYL", post="AIZL", synapse="chemical") == 45.0
    assert w.sel(pre="AIZL", post="AIYL", synapse="chemical") == 0.0
    gap = w.sel(synapse="electrical").values
    np.testing.assert_array_equal(gap, gap.T)


@pytest.mark.slow
@network
def test_real_funatlas_strongest_response_is_stimulated_pre_to_responding_post(real_cache):
    ds = reference.read("wormneuroatlas", "functional_wt", real_cache)
    # Randi et al. 2023: stimulating AVEL evokes dF/F 0.316 in RMDL (q 4e-18, 25 trials).
    assert ds["weight"].sel(pre="AVEL", post="RMDL", synapse="functional") == \
        pytest.approx(0.315862, abs=1e-6)
    assert ds["q_value"].sel(pre="AVEL", post="RMDL") == pytest.approx(4.07e-18, rel=1e-2)
    assert ds["n_trials"].sel(pre="AVEL", post="RMDL") == 25
    assert ds["weight"].sel(pre="RMDL", post="AVEL", synapse="functional") == \
        pytest.approx(0.1263, abs=1e-4)
    assert float(ds["weight"].sum()) == pytest.approx(898.8824848, abs=1e-6)
    assert int((ds["q_value"] < 0.05).sum()) == 1310
