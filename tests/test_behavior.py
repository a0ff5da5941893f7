"""Trial tables (behaviour): reader, contract, NWB trials table, ingest, the pooled GLM-HMM
step, config checks and the Ashwood et al. figure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neurodag import schema_trials, store, synth
from neurodag.errors import ConfigError, ContractError, InputError
from neurodag.io.behavior import read_trials
from neurodag.store.nwb_trials import read_trials_nwb, write_trials_nwb


@pytest.fixture(scope="module")
def mouse():
    return synth.generate("behavior", seed=0, n_sessions=6, n_trials=40, p_missing=0.1)


def test_trial_table_round_trips_through_tsv_zarr_and_nwb(tmp_path, mouse):
    from neurodag import ingest

    files = synth.write(mouse, tmp_path / "synthetic")
    assert [p.name for p in files] == ["trials.tsv", "truth.nc"]
    out = ingest.run([tmp_path / "synthetic"], tmp_path / "sub-01", modality="behavior",
                     subject="01", session="01", config_digest="abc")
    for ds in (store.read_dataset(out["zarr"]).load(), read_trials_nwb(out["nwb"])):
        schema_trials.validate_trials(ds)
        assert ds.attrs["config_digest"] == "abc" and ds.attrs["modality"] == "behavior"
        np.testing.assert_array_equal(ds["session_id"].values, mouse.data["session_id"].values)
        a, b = ds["signal"].values, mouse.data["signal"].values
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))  # missing choices stay NaN
        np.testing.assert_allclose(np.nan_to_num(a), np.nan_to_num(b))
        np.testing.assert_allclose(ds["start_time"].values, mouse.data["start_time"].values)
    assert store.inspect_nwb(out["nwb"]) == []
    report = json.loads(out["dandi"].read_text())
    assert not report["clean"] and "species" in report["metadata_missing"]  # nobody said
    for path in (out["zarr"], out["nwb"]):  # `neurodag validate` knows trial tables
        assert ingest.validate_path(path).endswith("ok (behavior, 240 trials, 3 columns)")


def test_trial_times_not_in_the_source_stay_absent(tmp_path):
    path = tmp_path / "sub-07_trials.csv"
    pd.DataFrame({"stimulus": [1, -1, 0.5], "choice": [1, 0, None]}).to_csv(path, index=False)
    ds = read_trials(path)
    assert ds.attrs["subject"] == "07" and "start_time" not in ds.coords
    nwb = write_trials_nwb(ds, tmp_path / "t.nwb")
    assert store.inspect_nwb(nwb) == []
    back = read_trials_nwb(nwb)
    assert "start_time" not in back.coords and np.isnan(back["signal"].values[2, 1])


def test_bids_onsets_become_trial_times(tmp_path):
    path = tmp_path / "trials.tsv"
    path.write_text("onset\tduration\tchoice\n0.5\t2\t1\n3\t2\tn/a\n")
    ds = read_trials(path)
    np.testing.assert_allclose(ds["start_time"].values, [0.5, 3.0])
    np.testing.assert_allclose(ds["stop_time"].values, [2.5, 5.0])


@pytest.mark.parametrize("text, message", [
    ("stimulus,choice\n1,left\n", "column 'choice' is not numeric ('left' on line 2)"),
    ("stimulus,stimulus\n1,2\n", "duplicate column names"),
    ("stimulus,choice\n", "no trials"),
    ("stimulus,choice\n1,inf\n", "column 'choice' has infinite values"),
    ("session\nA\n", "no numeric column"),
])
def test_bad_trial_table_gives_one_line_error(tmp_path, text, message):
    path = tmp_path / "trials.csv"
    path.write_text(text)
    with pytest.raises((InputError, ContractError)) as err:
        read_trials(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_ingest_wants_one_table_and_leaves_nothing_on_failure(tmp_path):
    from neurodag import ingest

    for name in ("a.tsv", "b.tsv"):
        (tmp_path / "in" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_text("choice\n1\n")
    with pytest.raises(InputError, match="expected one trial table"):
        ingest.run([tmp_path / "in"], tmp_path / "out", modality="behavior")
    (tmp_path / "in" / "b.tsv").unlink()
    (tmp_path / "in" / "a.tsv").write_text("choice\nx\n")
    with pytest.raises(InputError, match="not numeric"):
        ingest.run([tmp_path / "in"], tmp_path / "out", modality="behavior")
    assert not (tmp_path / "out" / "raw.zarr").exists()
    assert not (tmp_path / "out" / "raw.nwb").exists()


@pytest.mark.slow
def test_pooled_step_selects_three_states_and_writes_every_subject(tmp_path):
    from neurodag import ingest
    from neurodag.models.glmhmm.pooled_step import run_pooled

    stores = []
    for i in range(2):
        sim = synth.generate("behavior", seed=0, subject=f"{i + 1:02d}", n_sessions=10,
                             n_trials=100, p_missing=0.02)
        synth.write(sim, tmp_path / f"s{i}")
        stores.append(ingest.run([tmp_path / f"s{i}"], tmp_path / f"sub-{i + 1:02d}",
                                 modality="behavior", subject=f"{i + 1:02d}")["zarr"])
    out = run_pooled(stores, tmp_path / "pooled", states=(1, 3), folds=4, n_init=2,
                     covariates=("stimulus", "prev_choice"), config_digest="d")
    m = json.loads(out["metrics"].read_text())
    assert m["selected_n_states"] == 3 and m["folds_over"] == "sessions"
    assert m["bits_per_trial_mean"]["K3"] > m["bits_per_trial_mean"]["lapse2"] + 0.05
    assert m["bits_per_trial_mean"]["K3"] > m["bits_per_trial_mean"]["K1"] + 0.05
    fit = store.read_netcdf(out["K3"])
    assert list(fit["covariate"].values) == ["stimulus", "prev_choice"]
    assert fit.sizes["trial"] == 2000 and set(fit["subject"].values) == {"01", "02"}
    assert sorted(p.name for p in (tmp_path / "pooled" / "subjects").iterdir()) == \
        ["01.nc", "02.nc"]
    assert fit.attrs["config_digest"] == "d"


def test_pooled_step_refuses_time_series(tmp_path):
    from neurodag.models.glmhmm.pooled_step import run_pooled

    sim = synth.generate("spikes", seed=0, n_states=2, n_neurons=3, n_bins=50, n_sequences=2)
    store.write_signal(sim.data, tmp_path / "raw.zarr")
    with pytest.raises(InputError, match="not a trial table"):
        run_pooled([tmp_path / "raw.zarr"], tmp_path / "out")


@pytest.mark.parametrize("modality, options, message", [
    ("spikes", {"covariates": ["stimulus"]}, "expected {events: [labels], lags: bins}"),
    ("behavior", {"covariates": {"lags": 3}}, "expected a list of trial-table columns"),
    ("spikes", {"response": "choice"}, "for trial tables (behavior datasets) only"),
    ("spikes", {"inputs": "both"}, "'both' needs covariates"),
])
def test_glmhmm_config_mismatches_are_config_errors(modality, options, message):
    from neurodag.config import check

    src = {"synthetic": modality}
    cfg = {"datasets": {"d": {"modality": modality, "source": src,
                              "analyses": {"glmhmm": options}}}}
    with pytest.raises(ConfigError) as err:
        check(cfg)
    assert message in str(err.value)


def test_ashwood_figure_quick_setting_writes_numbers_beside_the_paper(tmp_path):
    from neurodag.report.papers import ashwood_glmhmm, run

    out = run("ashwood-glmhmm", tmp_path, seed=0, quick=True)
    assert [p.name for p in out] == ["recovery.png"]
    d = json.loads((tmp_path / "recovery.json").read_text())
    rec = d["recovery"]
    assert rec["weight_correlation"] > 0.9
    assert rec["state_accuracy"] >= rec["state_accuracy_true_params"] - 0.05
    assert d["bits_per_trial"]["GLM-HMM K=3"] > d["bits_per_trial"]["lapse (2)"]
    rows = ashwood_glmhmm.compare(tmp_path)
    assert {"metric", "ours", "published"} <= set(rows[0])
