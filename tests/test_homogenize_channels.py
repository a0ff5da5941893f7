"""Sessions with different channel names, channel sets and rates stack on one grid."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import xarray as xr

from neurodag import schema, store
from neurodag.errors import InputError
from neurodag.homogenize import channels, regions
from neurodag.synth import eeg, seeg

#: Each scalp channel carries its own sinusoid (Hz), so any mix-up shows.
FREQS = {"Fp1": 3.0, "T7": 5.0, "Cz": 7.0, "O1": 11.0}


def _sines(sfreq: float, seconds: float, names: list[str], kinds: list[str]) -> xr.Dataset:
    t = np.arange(int(seconds * sfreq)) / sfreq
    cols = []
    for name in names:
        key = next((k for k in FREQS if k.upper() in name.upper().replace("T3", "T7")), None)
        cols.append(np.sin(2 * np.pi * FREQS[key] * t) * 1e-5 if key else np.zeros_like(t))
    return schema.build(np.stack(cols, axis=1), sfreq=sfreq, channels=names,
                        channel_types=kinds, modality="eeg")



@pytest.fixture(scope="module")
def two_sessions():
    a = _sines(250.0, 10.0, ["Fp1", "T7", "Cz", "O1", "VEOG"], ["eeg"] * 4 + ["eog"])
    b = _sines(1000.0, 8.0, ["EEG FP1-REF", "EEG T3-REF", "EEG CZ-REF", "EEG O1-REF",
                             "EEG Fp1-F7", "EEG EKG-REF"], ["eeg"] * 6)
    return {"a": a, "b": b}


def test_eeg_names_and_rates_are_homogenized(two_sessions):
    st = channels.stack(two_sessions)
    assert st["signal"].dims == ("session", "time", "channel")
    assert list(st["channel"].values) == ["Fp1", "T7", "Cz", "O1"]    # 10-05 montage order
    assert st.attrs["sfreq"] == 250.0
    assert list(st["sfreq_original"].values) == [250.0, 1000.0]
    assert list(st["label"].sel(session="b").values) == [
        "EEG FP1-REF", "EEG T3-REF", "EEG CZ-REF", "EEG O1-REF"]
    assert json.loads(st.attrs["dropped"]) == {"b": ["EEG Fp1-F7", "EEG EKG-REF"]}


def test_resampled_session_matches_its_signal_at_the_common_rate(two_sessions):
    st = channels.stack(two_sessions).load()
    t = st["time"].values
    n_b = int(st["n_samples"].sel(session="b"))
    assert n_b == 2000 and st.sizes["time"] == 2500
    assert st["valid"].sel(session="b").values.sum() == 2000
    for name, f in FREQS.items():
        truth = np.sin(2 * np.pi * f * t) * 1e-5
        for sess, n in (("a", 2500), ("b", n_b)):
            got = st["signal"].sel(session=sess, channel=name).values[:n]
            np.testing.assert_allclose(got[50:-50], truth[:n][50:-50], atol=2e-8)
    assert not st["signal"].sel(session="b").values[n_b:].any()


def test_union_masks_what_a_session_lacks(two_sessions):
    a = two_sessions["a"].isel(channel=[0, 1, 3])                  # no Cz
    st = channels.stack({"a": a, "b": two_sessions["b"]}, channels="union")
    assert list(st["channel"].values) == ["Fp1", "T7", "Cz", "O1"]
    assert st["mask"].sel(session="a").values.tolist() == [True, True, False, True]
    assert not st["signal"].sel(session="a", channel="Cz").values.any()


def test_template_channels_missing_from_a_session_are_interpolated():
    full = eeg.generate(seed=0, session="02", duration=10.0).data
    other = eeg.generate(seed=0, duration=10.0).data
    lacking = full.isel(channel=[i for i, c in enumerate(full["channel"].values) if c != "Cz"])
    st = channels.stack({"other": other, "lacking": lacking}, channels="union",
                        interpolate=True).load()
    assert bool(st["interpolated"].sel(session="lacking", channel="Cz"))
    assert st["mask"].all() and not st["interpolated"].sel(session="other").any()
    got = st["signal"].sel(session="lacking", channel="Cz").values
    r = np.corrcoef(got, full["signal"].sel(channel="Cz").values)[0, 1]
    assert r >= 0.9                                                  # measured 0.958


def test_explicit_template_is_normalised_and_checked(two_sessions):
    st = channels.stack(two_sessions, channels=["CZ", "T3"])
    assert list(st["channel"].values) == ["Cz", "T7"]
    with pytest.raises(InputError, match="not 10-05 names"):
        channels.stack(two_sessions, channels=["Cz", "EKG"])


def _shafts(subject: str, keep: tuple[str, ...], sfreq: float):
    ds = seeg.generate(seed=0, subject=subject, duration=4.0, sfreq=sfreq).data
    idx = [i for i, c in enumerate(ds["channel"].values) if str(c)[:2] in keep]
    return ds.isel(channel=idx)


def test_seeg_sessions_with_different_electrodes_stack_by_region():
    s1 = _shafts("01", ("LA", "LH"), 512.0)
    s2 = _shafts("02", ("LH", "LI", "RA"), 1024.0)
    st = channels.stack({"s1": s1, "s2": s2}, by="region", channels="union").load()
    assert st["signal"].dims == ("session", "time", "region")
    assert st.attrs["sfreq"] == 512.0
    covered = {s: set(st["region"].values[st["mask"].sel(session=s).values])
               for s in ("s1", "s2")}
    assert covered["s1"] == set(s1["region"].values) - {"white matter"}
    assert covered["s2"] == set(s2["region"].values) - {"white matter"}
    region = "left hippocampus"                                   # recorded in both
    for sess, ds in (("s1", s1), ("s2", s2)):
        members = ds["signal"].values[:, ds["region"].values == region].mean(axis=1)
        got = st["signal"].sel(session=sess, region=region).values
        if sess == "s1":
            np.testing.assert_allclose(got, members, rtol=1e-5, atol=1e-12)
        else:   # 1024 -> 512 Hz: compare with the average of the samples' pairs
            assert np.corrcoef(got[20:-20], members[::2][20:-20])[0, 1] > 0.99
    inter = channels.stack({"s1": s1, "s2": s2}, by="region")
    assert set(inter["region"].values) == covered["s1"] & covered["s2"]
    assert "left hippocampus" in set(inter["region"].values) and inter["mask"].all()


def test_regions_from_a_label_image_give_region_signals():
    data = np.zeros((10, 10, 10), np.int16)
    data[:5] = 1
    data[5:] = 2
    img = nib.Nifti1Image(data, np.diag([4.0, 4.0, 4.0, 1.0]))     # 4 mm voxels from 0
    pos = np.array([[4, 8, 8], [12, 8, 8], [28, 8, 8], [400, 0, 0]], float) * 1e-3
    rng = np.random.default_rng(0)
    ds = schema.build(rng.normal(size=(50, 4)), sfreq=1.0, channels=["v1", "v2", "v3", "v4"],
                      channel_types="bold", modality="fmri", positions=pos)
    got = regions.assign_regions(ds, img, labels={1: "left", 2: "right"})
    assert list(got["region"].values) == ["left", "left", "right", "unknown"]
    reg = regions.to_regions(got)
    assert list(reg["channel"].values) == ["left", "right"]
    assert list(reg["n_members"].values) == [2, 1]
    np.testing.assert_allclose(reg["signal"].sel(channel="left").values,
                               ds["signal"].values[:, :2].mean(axis=1))
    schema.validate(reg)


def test_stack_writes_lazily_to_zarr(two_sessions, tmp_path):
    st = channels.stack(two_sessions)
    assert hasattr(st["signal"].data, "dask")
    back = store.read_dataset(store.write_dataset(st, tmp_path / "eeg.zarr")).load()
    np.testing.assert_array_equal(back["signal"].values, st["signal"].values)


def test_bad_requests_are_one_line_errors(two_sessions):
    s = seeg.generate(seed=0, duration=2.0).data
    with pytest.raises(InputError, match="stack one modality at a time"):
        channels.stack({"a": two_sessions["a"], "s": s})
    with pytest.raises(InputError, match="interpolate=True needs EEG"):
        channels.stack({"s": s, "t": s}, interpolate=True)
    with pytest.raises(InputError, match="share no channel"):
        channels.stack({"a": two_sessions["a"].isel(channel=[0]),
                        "b": two_sessions["b"].isel(channel=[3])})
    with pytest.raises(InputError, match="no 'region' coordinate"):
        channels.stack({"a": two_sessions["a"], "b": two_sessions["b"]}, by="region")
