"""Preprocessing options: defaults, one-line errors with the closest key."""

from __future__ import annotations

import json

import pytest

from neurodag import preprocess, synth
from neurodag.errors import ConfigError


def test_defaults_are_plain_json_for_every_modality():
    assert set(preprocess.DEFAULTS) == {"eeg", "meg", "seeg", "ecog", "fmri", "calcium",
                                        "spikes"}
    assert json.loads(json.dumps(preprocess.DEFAULTS)) == preprocess.DEFAULTS
    assert preprocess.DEFAULTS["eeg"]["bandpass"] == [1.0, 40.0]
    assert preprocess.DEFAULTS["seeg"]["reference"] == "bipolar"
    assert preprocess.DEFAULTS["fmri"]["bandpass"] == [0.01, 0.1]
    assert preprocess.DEFAULTS["calcium"]["neuropil_coef"] == 0.7


def test_check_options_fills_defaults_and_keeps_given_values():
    opts = preprocess.check_options("eeg", {"ica": {"n_components": 15}})
    assert opts["ica"]["n_components"] == 15
    assert opts["ica"]["random_state"] == preprocess.DEFAULTS["eeg"]["ica"]["random_state"]
    assert opts["bandpass"] == [1.0, 40.0]
    # The defaults themselves are not changed by a call.
    assert preprocess.DEFAULTS["eeg"]["ica"]["n_components"] == 20


@pytest.mark.parametrize("modality, options, message", [
    ("eeg", {"bandpas": [1, 40]},
     r"^preprocess\.bandpas: unknown option; did you mean 'bandpass'\?"),
    ("eeg", {"ica": {"n_componets": 5}},
     r"^preprocess\.ica\.n_componets: unknown option; did you mean 'n_components'\?"),
    ("eeg", {"ica": {"n_components": 1.5}},
     r"^preprocess\.ica\.n_components: expected an integer, got 1\.5$"),
    ("eeg", {"bandpass": [40, 1]},
     r"^preprocess\.bandpass: low edge 40 Hz must be below high edge 1 Hz$"),
    ("eeg", {"reference": "averge"},
     r"^preprocess\.reference: expected one of .*; did you mean 'average'\?$"),
    ("eeg", {"ica": {"remove": ["brain"]}},
     r"^preprocess\.ica\.remove\[0\]: 'brain' components are never removed$"),
    ("eeg", {"ica": {"threshold": 2}},
     r"^preprocess\.ica\.threshold: expected a number >= 0 and <= 1, got 2$"),
    ("fmri", {"confounds": "motoin"},
     r"^preprocess\.confounds: expected one of .*; did you mean 'motion'\?$"),
    ("calcium", {"baseline_percentile": "20"},
     r"^preprocess\.baseline_percentile: expected a number, got '20'$"),
    ("spikes", {"min_rate": True}, r"^preprocess\.min_rate: expected a number, got True$"),
])
def test_bad_options_are_one_line_naming_the_key(modality, options, message):
    with pytest.raises(ConfigError, match=message) as e:
        preprocess.check_options(modality, options)
    assert "\n" not in str(e.value)


def test_run_checks_options_before_touching_data():
    ds = synth.generate("spikes", seed=0).data
    with pytest.raises(ConfigError, match=r"preprocess\.min_rat: unknown option; did you "
                                          r"mean 'min_rate'\?"):
        preprocess.run(ds, min_rat=1)


def test_reference_must_fit_the_modality():
    ds = synth.generate("meg", seed=0, duration=5.0, n_locations=10).data
    with pytest.raises(ConfigError, match=r"preprocess\.reference: 'average' does not apply "
                                          r"to meg"):
        preprocess.run(ds, reference="average")
