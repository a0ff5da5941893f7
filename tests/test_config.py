"""Config validation: defaults, one-line errors naming key and value, typo suggestions."""

from __future__ import annotations

import copy
import json

import pytest

from neurodag import config
from neurodag.errors import ConfigError


@pytest.fixture
def default_config(repo_root):
    return config.load_yaml(repo_root / "config" / "config.yaml")


def _error(cfg) -> str:
    with pytest.raises(ConfigError) as err:
        config.check(cfg)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_default_config_is_valid_and_gets_defaults(default_config):
    cfg = config.check(default_config)
    assert cfg["gpu"] is False
    assert cfg["report"]["title"] == "neurodag"
    assert cfg["datasets"]["synth_eeg"]["ingest"] == {}
    modalities = {d["modality"] for d in cfg["datasets"].values()}
    assert modalities == {"eeg", "meg", "seeg", "fmri", "calcium", "spikes", "connectome",
                          "behavior"}
    synthetic = [d for d, e in cfg["datasets"].items() if "synthetic" in e["source"]]
    assert all(len(config.sessions(cfg, d)) >= 2 for d in synthetic)


def test_top_level_typo_suggests_the_key(default_config):
    default_config["datsets"] = default_config.pop("datasets")
    assert _error(default_config) == "config: datsets: unknown key; did you mean 'datasets'?"


def test_nested_typo_names_the_full_path(default_config):
    default_config["datasets"]["synth_eeg"]["modalty"] = "eeg"
    assert _error(default_config) == (
        "config: datasets.synth_eeg.modalty: unknown key; did you mean 'modality'?")


def test_bad_enum_value_lists_the_choices_and_suggests(default_config):
    default_config["datasets"]["synth_eeg"]["modality"] = "eeq"
    text = _error(default_config)
    assert text.startswith("config: datasets.synth_eeg.modality: 'eeq' is not one of eeg, meg")
    assert text.endswith("did you mean 'eeg'?")


def test_wrong_type_names_value_and_expected_type(default_config):
    default_config["datasets"]["synth_eeg"]["source"]["sessions"] = "two"
    assert _error(default_config) == (
        "config: datasets.synth_eeg.source.sessions: expected integer or array, got 'two' (str)")


def test_missing_input_files_are_named(default_config, tmp_path):
    pattern = str(tmp_path / "sub-*_eeg.edf")
    default_config["datasets"]["synth_eeg"]["source"] = {"files": pattern}
    assert _error(default_config) == (
        f"config: datasets.synth_eeg.source.files: '{pattern}' matches no file")


def test_source_must_be_exactly_one_kind(default_config):
    default_config["datasets"]["synth_eeg"]["source"] = {"synthetic": "eeg", "files": "x.edf"}
    assert _error(default_config) == (
        "config: datasets.synth_eeg.source: give exactly one of 'synthetic', 'files', 'bids' or 'reference'")


def test_generator_must_match_the_modality(default_config):
    default_config["datasets"]["synth_eeg"]["source"]["synthetic"] = "meg"
    assert "generates meg data but the dataset's modality is 'eeg'" in _error(default_config)


def test_reserved_dataset_names_are_refused(default_config):
    default_config["datasets"]["reports"] = copy.deepcopy(default_config["datasets"]["synth_eeg"])
    assert "'reports' is reserved" in _error(default_config)


def test_file_sessions_take_ids_from_bids_entities(tmp_path):
    for name in ("sub-01_ses-a_task-rest_eeg.edf", "sub-02_ses-a_task-rest_eeg.edf"):
        (tmp_path / name).write_bytes(b"")
    cfg = config.check({"datasets": {"mine": {
        "modality": "eeg", "source": {"files": str(tmp_path / "sub-*_eeg.edf")}}}})
    found = config.sessions(cfg, "mine")
    assert list(found) == ["sub-01_ses-a_task-rest", "sub-02_ses-a_task-rest"]
    assert found["sub-02_ses-a_task-rest"].subject == "02"
    assert found["sub-02_ses-a_task-rest"].session == "a"


def test_colliding_session_ids_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "sub-01_eeg.edf").write_bytes(b"")
    assert "give the same session id 'sub-01'" in _error({"datasets": {"mine": {
        "modality": "eeg", "source": {"files": str(tmp_path / "*" / "sub-01_eeg.edf")}}}})


def test_session_seeds_are_stable_and_distinct(default_config):
    cfg = config.check(default_config)
    seeds = [s.seed for d in cfg["datasets"] for s in config.sessions(cfg, d).values()
             if s.synthetic]
    assert len(set(seeds)) == len(seeds)
    assert config.session_seed(0, "synth_eeg", 0) == config.session_seed(0, "synth_eeg", 0)
    assert config.session_seed(1, "synth_eeg", 0) != config.session_seed(0, "synth_eeg", 0)


def test_unreadable_yaml_names_file_and_line(tmp_path):
    f = tmp_path / "config.yaml"
    f.write_text("datasets:\n  x: [1,\n")
    with pytest.raises(ConfigError, match=r"config.yaml: line \d+ not valid YAML"):
        config.load_yaml(f)


def test_reference_name_typo_is_suggested(default_config):
    default_config["datasets"]["synth_eeg"]["source"] = {"reference": "spkt"}
    assert _error(default_config) == (
        "config: datasets.synth_eeg.source.reference: 'spkt' is not a reference dataset; "
        "did you mean 'spkit'?")


def test_reference_sessions_must_exist(default_config):
    default_config["datasets"]["synth_eeg"]["source"] = {"reference": "spkit",
                                                         "sessions": ["eeg16"]}
    assert "'eeg16' is not a session of spkit; did you mean 'eeg16s'?" in _error(default_config)


def test_reference_modality_must_match(default_config):
    default_config["datasets"]["synth_eeg"]["source"] = {"reference": "nitime"}
    assert "'nitime' holds fmri data but the dataset's modality is 'eeg'" in _error(default_config)


def test_reference_sessions_are_planned_from_the_registry_without_network(default_config):
    default_config["datasets"]["worms"] = {"modality": "connectome",
                                           "source": {"reference": "cect"}}
    cfg = config.check(default_config)
    found = config.sessions(cfg, "worms")
    assert "witvliet2021_8" in found and len(found) >= 13
    assert found["varshney2011"].inputs == ("resources/reference/cect",)


def test_bids_needs_a_datatype(default_config, tmp_path):
    default_config["datasets"]["synth_eeg"]["source"] = {"bids": str(tmp_path)}
    assert _error(default_config) == (
        "config: datasets.synth_eeg.source.datatype: required with 'bids' (eeg, meg or ieeg)")


def test_keys_of_another_source_kind_are_refused(default_config):
    default_config["datasets"]["synth_eeg"]["source"]["extra"] = ["atlas.nii.gz"]
    assert _error(default_config) == (
        "config: datasets.synth_eeg.source.extra: not used with 'synthetic' "
        "(it takes params, sessions)")


def test_preprocess_options_are_checked_and_filled(default_config):
    default_config["datasets"]["synth_eeg"]["preprocess"] = {"ica": {"n_components": 15}}
    cfg = config.check(default_config)
    ica = cfg["datasets"]["synth_eeg"]["preprocess"]["ica"]
    assert ica["n_components"] == 15 and ica["method"] == "fastica"
    assert cfg["datasets"]["synth_fmri"]["preprocess"]["bandpass"] == [0.01, 0.1]


def test_preprocess_option_typo_names_the_dataset(default_config):
    default_config["datasets"]["synth_eeg"]["preprocess"] = {"ica": {"n_componets": 15}}
    assert _error(default_config).startswith(
        "config: datasets.synth_eeg.preprocess.ica.n_componets: unknown option; "
        "did you mean 'n_components'?")


def test_step_digests_change_only_with_what_the_step_reads():
    base = {"seed": 0, "datasets": {
        "a": {"modality": "eeg", "source": {"synthetic": "eeg"}, "preprocess": {}},
        "b": {"modality": "eeg", "source": {"synthetic": "eeg"}}}}
    gzip = {**base, "nwb": {"compression": "gzip"}}
    other = json.loads(json.dumps(base))
    other["datasets"]["b"]["preprocess"] = {"bandpass": [1.0, 30.0]}
    d = config.dataset_digest
    assert d(base, "a", "ingest") != d(gzip, "a", "ingest")      # raw.nwb differs
    assert d(base, "a", "preprocess") == d(gzip, "a", "preprocess")   # reads raw.zarr only
    assert d(base, "a", "preprocess") == d(other, "a", "preprocess")  # b's options: not a's
    assert d(base, "b", "preprocess") != d(other, "b", "preprocess")
    assert d(base, "b", "ingest") == d(other, "b", "ingest")


def test_ingest_option_a_reference_reader_does_not_take_is_named_at_config_time():
    cfg = {"datasets": {"atlas": {"modality": "connectome", "ingest": {"tr": 2.0},
                                  "source": {"reference": "wormneuroatlas"}}}}
    with pytest.raises(ConfigError, match=r"^config: datasets\.atlas\.ingest\.tr: not used by "
                                          r"the reference reader of 'wormneuroatlas'$"):
        config.check(cfg)
    cfg["datasets"]["atlas"]["ingest"] = {}
    config.check(cfg)
