"""The signal contract: what it accepts, and the one-line reasons it rejects."""

from __future__ import annotations

import numpy as np
import pytest

from neurodag import schema
from neurodag.errors import ContractError


def test_build_gives_times_from_rate_and_units_from_types(small_eeg):
    assert small_eeg["time"].values[-1] == pytest.approx(9.99)
    assert small_eeg["signal"].attrs["units"] == "V"
    assert small_eeg.sel(channel="Cz")["z"].item() == pytest.approx(0.09)
    schema.validate(small_eeg)


def test_mixed_units_are_recorded_per_channel():
    ds = schema.build(np.zeros((10, 2)), sfreq=10, channels=["MEG0111", "MEG0113"],
                      channel_types=["grad", "mag"], modality="meg")
    assert ds["signal"].attrs["units"] == "mixed"
    assert ds["unit"].values.tolist() == ["T/m", "T"]


def test_events_round_trip_through_a_dataframe(small_eeg):
    ev = schema.get_events(small_eeg)
    assert ev["onset"].tolist() == [1.0, 2.5]
    assert ev["label"].tolist() == ["standard", "target"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ds: ds.transpose("channel", "time", ...), "expected ('time', 'channel')"),
        (lambda ds: ds.assign(signal=ds["signal"].astype("int16")), "expected float32 or float64"),
        (lambda ds: ds.assign_coords(channel=["Fp1", "Fp1", "O1"]), "duplicate channel names ['Fp1']"),
        (lambda ds: ds.assign_coords(channel_type=("channel", ["eeg", "eeg", "brain"])),
         "channel_type ['brain']"),
        (lambda ds: ds.assign_attrs(modality="pet"), "modality 'pet'"),
        (lambda ds: ds.assign_attrs(sfreq=-1.0), "sfreq -1.0"),
        (lambda ds: ds.assign_attrs(sfreq=250.0), "do not match sfreq 250 Hz"),
        (lambda ds: ds.assign_coords(time=ds["time"].values[::-1]), "not strictly increasing"),
        (lambda ds: ds.drop_attrs(deep=False).assign_attrs(modality="eeg", sfreq=100.0),
         "missing attribute(s)"),
        (lambda ds: ds.assign(signal=ds["signal"].where(ds["channel"] != "O1")),
         "NaN or Inf samples (channels ['O1'])"),
        (lambda ds: ds.rename_vars(signal="data"), "no 'signal' variable"),
        (lambda ds: ds.assign_coords(event_duration=("event", [0.0, -1.0])),
         "durations must be >= 0"),
    ],
)
def test_contract_violations_name_the_problem(small_eeg, mutate, message):
    with pytest.raises(ContractError) as err:
        schema.validate(mutate(small_eeg), where="raw.zarr")
    text = str(err.value)
    assert text.startswith("raw.zarr: ")
    assert message in text
    assert "\n" not in text


def test_build_rejects_a_wrong_number_of_names():
    with pytest.raises(ContractError, match="channels: expected 2 values, got 3"):
        schema.build(np.zeros((5, 2)), sfreq=1, channels=["a", "b", "c"],
                     channel_types="eeg", modality="eeg")


def test_confounds_need_one_row_per_sample(small_eeg):
    import pandas as pd

    with pytest.raises(ContractError, match="confounds: 3 rows for 1000 samples"):
        schema.set_confounds(small_eeg, pd.DataFrame({"trans_x": [0.0, 1.0, 2.0]}))


@pytest.mark.parametrize(
    ("types", "units", "expected"),
    [(["mag", "grad", "eog"], [], "meg"), (["eeg", "eog", "stim"], [], "eeg"),
     (["seeg"], [], "seeg"), (["bold"], [], "fmri"), (["neuron"], ["dF/F"], "calcium"),
     (["neuron"], ["count"], "spikes")],
)
def test_modality_is_inferred_from_channel_types(types, units, expected):
    assert schema.infer_modality(types, units) == expected
