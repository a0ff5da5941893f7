"""NWB store: contract -> NWB -> contract round trips, nwbinspector, layout, streaming, bad files."""

from __future__ import annotations

import datetime as dt
import json
import re
import tracemalloc
from pathlib import Path

import dask.array as da
import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurodag import schema
from neurodag.errors import ContractError, InputError
from neurodag.store import inspect_nwb, read_nwb, write_nwb
from neurodag.store import nwb as nwbmod

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
PROVENANCE = {
    "source": "/data/sub-07/ses-2/rec.edf",
    "source_sha256": "ab" * 32,
    "inputs": {"/data/sub-07/ses-2/rec.edf": "ab" * 32},
    "versions": {"numpy": "2.4.6", "pynwb": "4.2.0"},
    "config_digest": "cd" * 32,
}


def _build(n_times, n_channels, *, seed, dtype=np.float64, scale=1.0, **kwargs):
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal((n_times, n_channels)) * scale).astype(dtype)
    kwargs.setdefault("attrs", dict(PROVENANCE))
    return schema.build(data, **kwargs)


def eeg():
    pos = np.array([[-0.03, 0.08, 0.02], [0.03, 0.08, 0.02], [np.nan, np.nan, np.nan],
                    [0.0, 0.0, 0.1], [np.nan, np.nan, np.nan], [np.nan, np.nan, np.nan]])
    return _build(
        512, 6, seed=1, dtype=np.float32, scale=1e-5, sfreq=256.0, modality="eeg",
        channels=["Fp1", "Fp2", "Oz", "Cz", "EOG", "STI"],
        channel_types=["eeg", "eeg", "eeg", "eeg", "eog", "stim"], positions=pos,
        region=["frontal", "frontal", "occipital", "central", "eye", "none"],
        subject="07", session="2",
        events={"onset": [0.1, 0.55, 1.2, 1.9], "duration": [0.3, 0.0, 0.1, 0.0],
                "label": ["stim/left", "button", "stim/right", "button"]},
    )


def meg():
    units = ["T"] * 3 + ["T/m"] * 3
    return _build(600, 6, seed=2, scale=1e-12, sfreq=600.0, modality="meg", units=units,
                  channels=[f"MEG{i:04d}" for i in range(6)],
                  channel_types=["mag"] * 3 + ["grad"] * 3)


def seeg():
    names = ["LA1", "LA2", "LA3", "RH'1", "RH'2", "ECG"]
    pos = np.column_stack([np.linspace(-0.03, 0.03, 6), np.full(6, 0.01), np.full(6, -0.02)])
    pos[5] = np.nan
    return _build(1000, 6, seed=3, scale=1e-4, sfreq=1000.0, modality="seeg", channels=names,
                  channel_types=["seeg"] * 5 + ["ecg"], positions=pos,
                  region=["amygdala", "amygdala", "white matter", "hippocampus", "hippocampus",
                          "heart"])


def ecog():
    return _build(400, 8, seed=4, dtype=np.float32, scale=1e-4, sfreq=200.0, modality="ecog",
                  channels=[f"G{i}" for i in range(1, 9)], channel_types="ecog", t0=12.5)


def calcium():
    pos = np.array([[1e-4, 2e-4, 5e-5], [1.5e-4, 2.2e-4, 5e-5], [np.nan] * 3,
                    [3e-4, 1e-4, 6e-5], [2e-4, 2e-4, 7e-5]])
    return _build(300, 5, seed=5, dtype=np.float32, sfreq=15.0, modality="calcium",
                  channels=["AVAL", "AVAR", "roi_3", "RIML", "SMDVR"], channel_types="neuron",
                  units="dF/F", positions=pos, region=["head", "head", "unknown", "head", "head"],
                  attrs={**PROVENANCE, "species": "Caenorhabditis elegans", "sex": "XX",
                         "age": "P4D", "indicator": "GCaMP6s", "excitation_lambda": 488.0,
                         "emission_lambda": 520.0})


def fmri():
    rng = np.random.default_rng(6)
    conf = pd.DataFrame({"csf": rng.standard_normal(120), "white_matter": rng.standard_normal(120),
                         "framewise_displacement": np.r_[np.nan, rng.random(119)]})
    ds = _build(120, 10, seed=6, sfreq=0.5, modality="fmri", channel_types="bold",
                channels=[f"7Networks_LH_Vis_{i}" for i in range(10)], confounds=conf,
                region=["visual"] * 10)
    ds.attrs["session_start_time"] = "2021-03-04T09:30:00+01:00"
    return ds


def spikes():
    rng = np.random.default_rng(7)
    counts = rng.poisson(2.0, size=(500, 20)).astype(np.float64)
    return schema.build(counts, sfreq=100.0, channels=[f"unit{i:02d}" for i in range(20)],
                        channel_types="neuron", units="count", modality="spikes",
                        attrs=dict(PROVENANCE))


MAKERS = {"eeg": eeg, "meg": meg, "seeg": seeg, "ecog": ecog, "calcium": calcium,
          "fmri": fmri, "spikes": spikes}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Each modality written once: {modality: (dataset, path)}."""
    root = tmp_path_factory.mktemp("nwb")
    out = {}
    for name, make in MAKERS.items():
        ds = make()
        out[name] = (ds, write_nwb(ds, root / f"{name}.nwb"))
    return out


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("modality", list(MAKERS))
def test_round_trip_gives_back_the_same_dataset(written, modality):
    ds, path = written[modality]
    with read_nwb(path) as back:
        assert back["signal"].dtype == ds["signal"].dtype
        # Samples, time, names, types, units, regions, positions (NaN too), events, attrs.
        xr.testing.assert_identical(back.load(), ds)


def test_lazy_zarr_store_goes_to_nwb_and_back(tmp_path):
    from neurodag.store import read_signal, write_signal

    ds = eeg()
    write_signal(ds, tmp_path / "raw.zarr")
    lazy = read_signal(tmp_path / "raw.zarr")
    assert hasattr(lazy["signal"].data, "dask")
    write_nwb(lazy, tmp_path / "raw.nwb")
    with read_nwb(tmp_path / "raw.nwb") as back:
        xr.testing.assert_identical(back.load(), ds)


@pytest.mark.parametrize("modality", list(MAKERS))
def test_nwb_contract_nwb_is_stable(written, modality, tmp_path):
    ds, path = written[modality]
    with read_nwb(path) as once:
        write_nwb(once, tmp_path / "again.nwb")
    with read_nwb(tmp_path / "again.nwb") as twice:
        xr.testing.assert_identical(twice.load(), ds)


@pytest.mark.parametrize("modality", list(MAKERS))
def test_written_files_pass_nwbinspector(written, modality):
    assert inspect_nwb(written[modality][1]) == []


def test_subject_session_and_start_time_are_recorded(written):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(written["eeg"][1]), "r") as io:
        f = io.read()
        assert (f.subject.subject_id, f.session_id) == ("07", "2")
        assert f.session_start_time == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        assert f.identifier.startswith("neurodag-")
        assert json.loads(f.notes)["neurodag"]["attrs"]["inputs"] == PROVENANCE["inputs"]
    with NWBHDF5IO(str(written["fmri"][1]), "r") as io:
        start = io.read().session_start_time
        assert start == dt.datetime(2021, 3, 4, 8, 30, tzinfo=dt.UTC)


def test_identifier_is_a_function_of_provenance(tmp_path):
    from pynwb import NWBHDF5IO

    ds = ecog()
    other = ds.copy()
    other.attrs = {**ds.attrs, "source_sha256": "ef" * 32}
    ids = []
    for i, d in enumerate((ds, ds, other)):
        write_nwb(d, tmp_path / f"{i}.nwb")
        with NWBHDF5IO(str(tmp_path / f"{i}.nwb"), "r") as io:
            ids.append(io.read().identifier)
    assert ids[0] == ids[1] != ids[2]


# ---------------------------------------------------------------------------- layout


def test_ephys_is_an_electrical_series_with_channels_in_the_electrodes_table(written):
    _, path = written["eeg"]
    with h5py.File(path, "r") as f:
        es = f["acquisition/ElectricalSeries"]
        assert es.attrs["neurodata_type"] == "ElectricalSeries"
        assert es["data"].attrs["unit"] == "volts"
        assert es["starting_time"].attrs["rate"] == 256.0
        el = f["general/extracellular_ephys/electrodes"]
        names = [v.decode() for v in el["channel_name"][:]]
        assert names == ["Fp1", "Fp2", "Oz", "Cz", "EOG", "STI"]
        assert [v.decode() for v in el["location"][:]][:3] == ["frontal", "frontal", "occipital"]
        # NWB electrode coordinates are micrometres, +x posterior, +z right: Fp1 and Fp2
        # (contract x = -/+30 mm, y = 80 mm anterior) lie 80 mm anterior, 30 mm left/right.
        np.testing.assert_allclose(el["x"][:2], [-80000.0, -80000.0])
        np.testing.assert_allclose(el["z"][:2], [-30000.0, 30000.0])
        assert np.isnan(el["x"][2])
        assert sorted(f["general/extracellular_ephys"]) == ["eeg", "electrodes", "eog", "stim"]
        ev = f["intervals/events"]
        np.testing.assert_allclose(ev["stop_time"][:], [0.4, np.nan, 1.3, np.nan])


def test_meg_keeps_tesla_units_per_channel_and_says_so(written):
    _, path = written["meg"]
    with h5py.File(path, "r") as f:
        el = f["general/extracellular_ephys/electrodes"]
        assert [v.decode() for v in el["unit"][:]] == ["T"] * 3 + ["T/m"] * 3
        desc = f["acquisition/ElectricalSeries"].attrs["description"]
        assert "T/m" in desc and "not all volts" in desc


def test_seeg_gets_one_electrode_group_per_shaft(written):
    _, path = written["seeg"]
    with h5py.File(path, "r") as f:
        groups = sorted(k for k in f["general/extracellular_ephys"] if k != "electrodes")
        assert groups == ["ecg", "shaft LA", "shaft RH'"]
        assert f["general/extracellular_ephys/shaft RH'"].attrs["location"] == "hippocampus"


def test_calcium_dff_goes_to_dfoverf_with_one_voxel_per_roi(written):
    ds, path = written["calcium"]
    with h5py.File(path, "r") as f:
        rrs = f["processing/ophys/DfOverF/RoiResponseSeries"]
        assert rrs["data"].attrs["unit"] == "dF/F"
        seg = f["processing/ophys/PlaneSegmentation"]
        plane = f["general/optophysiology/ImagingPlane"]
        origin, spacing = plane["origin_coords"][:], plane["grid_spacing"][:]
        assert seg["voxel_mask_index"][:].tolist() == [1, 2, 3, 4, 5]  # one voxel per ROI
        voxels = seg["voxel_mask"][:]
        known = ds["x"].notnull().values
        assert voxels["weight"].tolist() == known.astype(float).tolist()  # 0 where unknown
        voxels = voxels[known]
        where = np.array([[v["x"], v["y"], v["z"]] for v in voxels]) * spacing + origin
        truth = np.column_stack([ds[c].values[known] for c in "xyz"])
        np.testing.assert_allclose(where, truth, atol=0.5e-6)
        assert plane["excitation_lambda"][()] == 488.0
        assert f["general/subject/species"][()].decode() == "Caenorhabditis elegans"


def test_calcium_in_arbitrary_units_without_positions_goes_to_fluorescence(tmp_path):
    ds = calcium().drop_vars(["x", "y", "z"])
    ds = ds.assign_coords(unit=("channel", np.array(["a.u."] * 5, dtype=object)))
    ds["signal"].attrs["units"] = "a.u."
    write_nwb(ds, tmp_path / "f.nwb")
    with h5py.File(tmp_path / "f.nwb", "r") as f:
        assert "Fluorescence" in f["processing/ophys"]
    assert inspect_nwb(tmp_path / "f.nwb") == []
    with read_nwb(tmp_path / "f.nwb") as back:
        xr.testing.assert_identical(back.load(), ds)


def test_more_parcels_than_volumes_is_flagged_unless_ignored(tmp_path):
    ds = _build(50, 100, seed=11, sfreq=0.5, modality="fmri", channel_types="bold",
                channels=[f"parcel{i}" for i in range(100)])
    write_nwb(ds, tmp_path / "wide.nwb")
    lines = inspect_nwb(tmp_path / "wide.nwb")
    assert len(lines) == 1 and lines[0].startswith("CRITICAL") and "orientation" in lines[0]
    assert inspect_nwb(tmp_path / "wide.nwb", ignore=["check_data_orientation"]) == []


def test_fmri_confounds_are_a_2d_series_with_named_columns(written):
    ds, path = written["fmri"]
    with h5py.File(path, "r") as f:
        misc = f["processing/misc"]
        assert misc["confounds/data"].shape == (120, 3)
        assert [v.decode() for v in misc["confound_columns/confound"][:]] == [
            "csf", "white_matter", "framewise_displacement"]
        assert misc["bold"].attrs["neurodata_type"] == "TimeSeries"
    with read_nwb(path) as back:
        np.testing.assert_array_equal(back["confounds"].values, ds["confounds"].values)
        assert np.isnan(back["confounds"].values[0, 2])


def test_irregular_time_is_written_as_timestamps(tmp_path):
    ds = ecog()
    jitter = np.random.default_rng(8).uniform(-0.2, 0.2, ds.sizes["time"]) / 200.0
    ds = ds.assign_coords(time=("time", ds["time"].values + jitter, {"units": "s"}))
    write_nwb(ds, tmp_path / "j.nwb")
    with h5py.File(tmp_path / "j.nwb", "r") as f:
        assert "timestamps" in f["acquisition/ElectricalSeries"]
    with read_nwb(tmp_path / "j.nwb") as back:
        np.testing.assert_array_equal(back["time"].values, ds["time"].values)
        assert back.attrs["sfreq"] == 200.0


# ---------------------------------------------------------------------------- streaming


def _dask_signal(n_times, n_channels, *, chunk, fail_at=None, nan_at=None):
    """A lazy (time, channel) float32 signal; optionally failing or NaN in one block."""

    def block(b, block_info=None):
        start = block_info[0]["array-location"][0][0]
        if fail_at is not None and start <= fail_at < start + b.shape[0]:
            raise RuntimeError("disk gone")
        out = np.sin(np.arange(start, start + b.shape[0])[:, None] * 0.01 + np.arange(b.shape[1]))
        out = out.astype(np.float32)
        if nan_at is not None and start <= nan_at < start + b.shape[0]:
            out[nan_at - start, 1] = np.nan
        return out

    base = da.zeros((n_times, n_channels), chunks=(chunk, n_channels), dtype=np.float32)
    return base.map_blocks(block, dtype=np.float32)


def _lazy_eeg(n_times, n_channels=4, **kwargs):
    sig = _dask_signal(n_times, n_channels, chunk=1000, **kwargs)
    names = ["C3", "C4", "P3", "P4"] if n_channels == 4 else [f"E{i}" for i in range(n_channels)]
    return schema.build(sig, sfreq=500.0, channels=names, channel_types="eeg", modality="eeg",
                        attrs=dict(PROVENANCE))


def test_lazy_data_are_written_in_bounded_time_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr("neurodag.store.zarrstore.CHUNK_BYTES", 4096)  # 256 rows of 4 float32
    seen = []
    original = nwbmod._TimeBlocks._get_data

    def spy(self, selection):
        block = original(self, selection)
        seen.append(block.shape[0])
        return block

    monkeypatch.setattr(nwbmod._TimeBlocks, "_get_data", spy)
    ds = _lazy_eeg(20_000)
    write_nwb(ds, tmp_path / "lazy.nwb")
    write_nwb(ds, tmp_path / "gzip.nwb", compression="gzip")
    assert sum(seen) == 40_000
    assert max(seen) <= 256 * nwbmod.BUFFER_CHUNKS
    for name, compression in (("lazy.nwb", None), ("gzip.nwb", "gzip")):
        with h5py.File(tmp_path / name, "r") as f:
            data = f["acquisition/ElectricalSeries/data"]
            assert data.chunks == (256, 4) and data.compression == compression
        with read_nwb(tmp_path / name) as back:
            np.testing.assert_array_equal(back["signal"].values, ds["signal"].values)


def _peak_bytes_writing(ds, path) -> int:
    tracemalloc.start()
    try:
        write_nwb(ds, path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_recording_length(tmp_path, monkeypatch):
    monkeypatch.setattr("neurodag.store.zarrstore.CHUNK_BYTES", 1 << 18)  # 256 kB chunks
    n_short, n_long, width = 20_000, 320_000, 64
    short = _peak_bytes_writing(_lazy_eeg(n_short, width), tmp_path / "short.nwb")
    long = _peak_bytes_writing(_lazy_eeg(n_long, width), tmp_path / "long.nwb")
    signal_bytes = n_long * width * 4  # 82 MB
    assert long < 0.1 * signal_bytes
    # What grows is only the contract's in-memory time axis (8 bytes a sample), which
    # schema.validate differences: the samples themselves stream.
    assert long - short < 3 * 8 * n_long
    with h5py.File(tmp_path / "long.nwb", "r") as f:
        assert f["acquisition/ElectricalSeries/data"].shape == (n_long, width)


def test_nan_found_mid_write_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr("neurodag.store.zarrstore.CHUNK_BYTES", 4096)
    target = tmp_path / "nan.nwb"
    with pytest.raises(ContractError, match=r"nan\.nwb: signal has NaN or Inf.*'C4'"):
        write_nwb(_lazy_eeg(10_000, nan_at=9_000), target)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_the_old_file_untouched(tmp_path, monkeypatch):
    monkeypatch.setattr("neurodag.store.zarrstore.CHUNK_BYTES", 4096)
    target = tmp_path / "rec.nwb"
    write_nwb(ecog(), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="disk gone"):
        write_nwb(_lazy_eeg(10_000, fail_at=7_500), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.nwb"]
    with pytest.raises(RuntimeError, match="disk gone"):
        write_nwb(_lazy_eeg(10_000, fail_at=7_500), tmp_path / "new.nwb")
    assert not (tmp_path / "new.nwb").exists()


# ---------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("func", [read_nwb, inspect_nwb])
def test_missing_file_is_a_one_line_input_error(tmp_path, func):
    with pytest.raises(InputError, match=r"nothere\.nwb: no such NWB file"):
        func(tmp_path / "nothere.nwb")


def _random_bytes(path, written):
    path.write_bytes(np.random.default_rng(9).bytes(4096))


def _half_nwb(path, written):
    blob = written["seeg"][1].read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def _plain_hdf5(path, written):
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros((10, 2))


@pytest.mark.parametrize(("make", "problem"), [
    (_random_bytes, r"not an NWB file \(not HDF5\)"),
    (_half_nwb, r"truncated or corrupted HDF5 file \(OSError: .*truncated file"),
    (_plain_hdf5, r"not an NWB file \(HDF5 without an nwb_version attribute\)"),
])
def test_bad_file_is_a_one_line_input_error_naming_it(written, tmp_path, make, problem):
    path = tmp_path / "bad.nwb"
    make(path, written)
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: {problem}") as err:
        read_nwb(path)
    assert "\n" not in str(err.value)


def test_bad_session_start_time_names_the_file_and_attr(tmp_path):
    ds = ecog()
    ds.attrs["session_start_time"] = "last tuesday"
    with pytest.raises(InputError, match=r"x\.nwb: attr session_start_time='last tuesday'"):
        write_nwb(ds, tmp_path / "x.nwb")
    assert not (tmp_path / "x.nwb").exists()
