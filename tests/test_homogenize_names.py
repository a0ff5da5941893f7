"""Names: the canonical C. elegans neurons, label normalisation, EEG 10-05 names."""

from __future__ import annotations

import mne
import pytest

from neurodag.errors import InputError
from neurodag.homogenize import names
from neurodag.synth.calcium import canonical_neurons as synth_canonical


def test_canonical_order_is_the_300_packaged_neurons_sorted_without_can():
    canon = names.canonical_neurons()
    assert len(canon) == 300 and list(canon) == sorted(canon)
    assert canon == synth_canonical()
    assert "CANL" not in canon and "CANR" not in canon
    assert canon[:3] == ("ADAL", "ADAR", "ADEL") and canon[-1] == "VD9"
    assert {"AS10", "AS11", "VA12", "VD13", "AWCL", "AWCR", "I1L"} <= set(canon)


@pytest.mark.parametrize(("label", "expected"), [
    ("AVAL", "AVAL"),
    ("aval", "AVAL"),
    (" AvaR ", "AVAR"),
    ("VB01", "VB1"),
    ("vb01", "VB1"),
    ("DD01", "DD1"),
    ("DB07", "DB7"),
    ("VA012", "VA12"),
    ("AS010", "AS10"),
    ("AS10", "AS10"),        # a real two-digit number: not zero padding
    ("AS1", "AS1"),
    ("VD13", "VD13"),
    ("IL1DL", "IL1DL"),      # digits inside the name are kept
    ("i1l", "I1L"),
    ("AWCL", "AWCL"),
    ("AWCON", None),         # side unknown
    ("AWCOFF", None),
    ("ROI0012", None),
    ("CANL", None),          # not one of the 300
    ("MDL01", None),         # muscle
    ("MDL1", None),
    ("pm1", None),           # pharyngeal muscle: upper case does not make it a neuron
    ("mc1V", None),
    ("AVAL?", None),
    ("AVAL-AVAR", None),
    ("12", None),
    ("", None),
    ("VB00", None),
])
def test_neuron_labels_map_to_canonical_names(label, expected):
    assert names.normalize_neuron(label) == expected


@pytest.mark.parametrize(("side", "on", "off"), [("L", "AWCL", "AWCR"), ("r", "AWCR", "AWCL")])
def test_awc_on_off_map_to_sides_only_when_the_on_side_is_given(side, on, off):
    assert names.normalize_neuron("AWCON", awc_on=side) == on
    assert names.normalize_neuron("awcoff", awc_on=side) == off


def test_awc_side_must_be_l_or_r():
    with pytest.raises(InputError, match="awc_on must be 'L' or 'R'"):
        names.normalize_neuron("AWCON", awc_on="left")


def test_map_neurons_gives_a_neuron_once_and_says_why():
    got = names.map_neurons(["VB01", "VB1", "ROI0003", "AWCON", "AVAL"])
    assert got == [
        ("VB1", "renamed from VB01"),
        (None, "duplicate of VB01"),
        (None, "not a canonical neuron"),
        (None, "AWC side unknown"),
        ("AVAL", "canonical"),
    ]


def test_eeg_target_set_is_mne_1005_without_old_temporal_names():
    target = names.eeg_1005_names()
    montage = mne.channels.make_standard_montage("colin27_1005").ch_names
    assert len(target) == len(montage) - 4 == 339
    assert set(target) == set(montage) - {"T3", "T4", "T5", "T6"}


@pytest.mark.parametrize(("label", "expected"), [
    ("Fp1", "Fp1"),
    ("FP1", "Fp1"),
    ("fp1", "Fp1"),
    ("FPZ", "Fpz"),
    ("CZ", "Cz"),
    ("EEG Fp1-REF", "Fp1"),
    ("EEG FP1-REF", "Fp1"),
    ("EEG Fp1-Ref", "Fp1"),
    ("EEG C3-LE", "C3"),
    ("EEG O2-A1", "O2"),
    ("EEG-Cz", "Cz"),
    ("EEG:Pz", "Pz"),
    ("POL Fp2", "Fp2"),
    ("Fp1_REF", "Fp1"),
    ("P3-M2", "P3"),
    ("C4-AVG", "C4"),
    ("Fc5.", "FC5"),          # PhysioNet EDF pads with dots
    ("Fc5..", "FC5"),
    ("T3", "T7"),
    ("T4", "T8"),
    ("T5", "P7"),
    ("T6", "P8"),
    ("EEG T3-REF", "T7"),
    ("afp1h", "AFp1h"),
    ("A1", "A1"),             # earlobe: a 10-05 name
    ("M2", "M2"),
    ("Fp1-F7", None),         # bipolar derivation
    ("EEG", None),
    ("EOG", None),
    ("VEOG", None),
    ("ECG", None),
    ("HL", None),
    ("ReRef", None),
    ("Status", None),
    ("X1", None),
    ("", None),
])
def test_eeg_names_normalise_to_10_05(label, expected):
    assert names.normalize_eeg(label) == expected


def test_eeg_list_keeps_the_first_of_two_channels_with_one_name():
    assert names.normalize_eeg_names(["Fp1", "EEG FP1-REF", "T3", "T7"]) == [
        "Fp1", None, "T7", None]


def test_biosemi_abc_layout_is_not_read_as_10_05():
    abc = [f"{letter}{i}" for letter in "ABCD" for i in range(1, 33)]
    got = names.normalize_eeg_names(abc + ["EXG1"])
    assert names.is_abc_layout(abc)
    assert got == [None] * (len(abc) + 1)         # A1, C3, C4 included: not 10-05 positions
    assert not names.is_abc_layout(["Fp1", "A1", "A2", "C3", "C4", "F3", "F7"])
    # auxiliary channels X1..X3 do not make a 10-20 cap an ABC cap
    assert names.normalize_eeg_names(["Fp1", "O1", "X1", "X2", "X3"]) == [
        "Fp1", "O1", None, None, None]


def test_real_edf_with_abc_names_gets_no_10_05_names(real_data):
    raw = mne.io.read_raw_edf(real_data / "test.edf", preload=False, verbose="error")
    got = names.normalize_eeg_names(raw.ch_names)
    assert raw.ch_names[:2] == ["A1", "A2"] and names.is_abc_layout(raw.ch_names)
    assert sum(g is not None for g in got) == 0


def test_real_brainvision_names_map_to_10_05(real_data):
    raw = mne.io.read_raw_brainvision(real_data / "test.vhdr", preload=False, verbose="error")
    got = dict(zip(raw.ch_names, names.normalize_eeg_names(raw.ch_names), strict=True))
    assert got["FP1"] == "Fp1" and got["FP2"] == "Fp2" and got["FCz"] == "FCz"
    # 28 scalp electrodes; HL, HR, Vb (EOG) and ReRef are not 10-05 electrodes
    assert sum(v is not None for v in got.values()) == 28
    assert [k for k, v in got.items() if v is None] == ["HL", "HR", "Vb", "ReRef"]
