"""NWB files written by other tools as a source: pynwb's mock helpers, neuroconv-style layouts.

Each claim is checked against the source file's own numbers: samples after conversion,
spike counts against a direct ``numpy.histogram`` of the spike times, events against the
trials table, metadata against the subject and general fields.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import xarray as xr
from conftest import run_ingest

from neurodag import io, schema, store
from neurodag.errors import InputError
from neurodag.io import nwb_units
from neurodag.store.validate import validate_path

pynwb = pytest.importorskip("pynwb")
from pynwb import NWBHDF5IO  # noqa: E402
from pynwb.testing.mock.ecephys import mock_ElectricalSeries, mock_Units  # noqa: E402
from pynwb.testing.mock.file import mock_NWBFile, mock_Subject  # noqa: E402
from pynwb.testing.mock.ophys import mock_RoiResponseSeries  # noqa: E402

START = dt.datetime(2021, 3, 4, 10, 30, 15, tzinfo=dt.timezone(dt.timedelta(hours=-5)))


def _write(nwbfile, path):
    with NWBHDF5IO(str(path), "w") as w:
        w.write(nwbfile)
    return path


def _source_spike_times(path) -> list[np.ndarray]:
    with NWBHDF5IO(str(path), "r") as r:
        units = r.read().units
        return [np.asarray(units["spike_times"][i], dtype=np.float64) for i in range(len(units))]


def _edges(ds) -> np.ndarray:
    time = ds["time"].values
    return np.append(time, time[-1] + ds.attrs["bin_width"])


@pytest.fixture(autouse=True)
def _close_files(monkeypatch):
    """io.read leaves NWB files open for lazy reads: close each at the end of the test."""
    opened = []
    read = io.read

    def reading(*args, **kwargs):
        ds = read(*args, **kwargs)
        opened.append(ds)
        return ds

    monkeypatch.setattr(io, "read", reading)
    yield
    for ds in opened:
        ds.close()


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


# ---------------------------------------------------------------------------- Units (mock)


@pytest.fixture
def mock_units_file(tmp_path):
    f = mock_NWBFile(session_start_time=START)
    mock_Subject(nwbfile=f)
    mock_Units(num_units=8, max_spikes_per_unit=60, seed=3, nwbfile=f)
    return _write(f, tmp_path / "units.nwb")


@pytest.mark.parametrize("bin_width", [0.05, 0.013])
def test_mock_units_ingest_as_spikes_whose_counts_are_a_direct_histogram(mock_units_file,
                                                                          bin_width):
    ds = io.read(mock_units_file, bin_width=bin_width)
    assert ds.attrs["modality"] == "spikes" and ds.attrs["nwb_series"] == "units"
    assert ds.attrs["sfreq"] == pytest.approx(1 / bin_width)
    assert ds["unit"].values.tolist() == ["count"] * 8
    assert ds["channel"].values.tolist() == [f"unit_{i}" for i in range(8)]  # unit_name column
    edges = _edges(ds)
    total = 0
    for name, times in zip(ds["channel"].values, _source_spike_times(mock_units_file),
                           strict=True):
        expected, _ = np.histogram(times, bins=edges)
        np.testing.assert_array_equal(ds["signal"].sel(channel=name).values, expected)
        total += times.size
    assert float(ds["signal"].sum()) == total  # every spike in a bin


def test_spike_times_ride_along_in_the_contract(mock_units_file):
    ds = io.read(mock_units_file)
    assert ds.attrs["bin_width"] == nwb_units.BIN_WIDTH
    for name, times in zip(ds["channel"].values, _source_spike_times(mock_units_file),
                           strict=True):
        np.testing.assert_array_equal(schema.get_spike_times(ds, name), times)


def test_spikes_ingest_archives_a_units_table_equal_to_the_source(mock_units_file, tmp_path):
    out = run_ingest([mock_units_file], tmp_path / "sub", bin_width=0.02)
    source = _source_spike_times(mock_units_file)
    with NWBHDF5IO(str(out["nwb"]), "r") as r:
        units = r.read().units
        assert [str(v) for v in units["unit_name"].data[:]] == [f"unit_{i}" for i in range(8)]
        for i, times in enumerate(source):
            np.testing.assert_array_equal(units["spike_times"][i], times)
    zarr = store.read_signal(out["zarr"])
    with store.read_nwb(out["nwb"]) as back:
        xr.testing.assert_identical(back.load(), zarr.load())
    line = validate_path(out["nwb"])
    assert f"(spikes, 8 channels, {zarr.sizes['time']} samples at 50 Hz; " in line
    # pynwb's mock subject states sex and age but no species: reported, not filled in
    assert line.endswith("(nwb:/session_start_time); DANDI still needs species)")


def test_units_with_obs_intervals_keep_only_bins_every_unit_observed(tmp_path):
    f = mock_NWBFile(session_start_time=START)
    rng = np.random.default_rng(4)
    observed = {0: [[0.0, 10.0]], 1: [[0.0, 4.0], [6.0, 10.0]], 2: [[1.0, 10.0]]}
    for intervals in observed.values():
        times = np.sort(rng.uniform(0.0, 10.0, 80))
        f.add_unit(spike_times=times, obs_intervals=intervals)
    path = _write(f, tmp_path / "obs.nwb")
    ds = io.read(path, bin_width=0.5)
    # every unit observed in [1, 4) and [6, 10): 6 + 8 bins of 0.5 s
    kept = np.r_[np.arange(1.0, 4.0, 0.5), np.arange(6.0, 10.0, 0.5)]
    np.testing.assert_allclose(ds["time"].values, kept)
    assert ds.attrs["unobserved_bins_dropped"] == 20 - kept.size
    full = np.arange(0.0, 10.5, 0.5)
    for u, times in enumerate(_source_spike_times(path)):
        expected, _ = np.histogram(times, bins=full)
        keep = np.isin(full[:-1], kept)
        np.testing.assert_array_equal(ds["signal"].values[:, u], expected[keep])


def test_units_are_binned_block_by_block_reading_only_each_blocks_spikes(tmp_path, monkeypatch):
    f = mock_NWBFile(session_start_time=START)
    rng = np.random.default_rng(5)
    source = [np.sort(rng.uniform(0, 2000.0, 4000)) for _ in range(3)]
    for times in source:
        f.add_unit(spike_times=times)
    path = _write(f, tmp_path / "long.nwb")
    reads = []
    original = nwb_units._Flat.__getitem__

    def spy(self, key):
        out = original(self, key)
        reads.append(np.size(out))
        return out

    monkeypatch.setattr(nwb_units._Flat, "__getitem__", spy)
    ds = io.read(path, bin_width=0.001)  # 2 million bins
    assert ds["signal"].data.numblocks[0] > 5
    reads.clear()
    block = ds["signal"].data.blocks[2].compute()
    assert 0 < max(reads) < 4000 / 5  # a block's share of each unit, not the whole unit
    rows = ds["signal"].data.chunks[0]
    lo = sum(rows[:2])
    edges = _edges(ds)
    for u, times in enumerate(source):
        expected, _ = np.histogram(times, bins=edges[lo:lo + rows[2] + 1])
        np.testing.assert_array_equal(block[:, u], expected)


# ---------------------------------------------------------------------------- series (mock)


def test_mock_electrical_series_is_read_in_volts(tmp_path):
    f = mock_NWBFile(session_start_time=START)
    raw = np.random.default_rng(6).integers(-3000, 3000, (400, 5)).astype(np.int16)
    chan = np.array([1.0, 0.5, 2.0, 1.0, 0.25], dtype=np.float32)
    mock_ElectricalSeries(data=raw, rate=1000.0, conversion=1.95e-7, offset=-1e-4,
                          channel_conversion=chan, nwbfile=f)
    path = _write(f, tmp_path / "es.nwb")
    ds = io.read(path, modality="seeg")
    expected = raw.astype(np.float64) * 1.95e-7 * chan.astype(np.float64) + -1e-4
    np.testing.assert_allclose(ds["signal"].values, expected, rtol=1e-12, atol=1e-18)
    assert ds.attrs["sfreq"] == 1000.0 and ds.attrs["modality"] == "seeg"
    assert ds["channel_type"].values.tolist() == ["seeg"] * 5
    assert ds["region"].values.tolist() == ["CA1"] * 5


def test_mock_roi_response_series_is_read_as_calcium(tmp_path):
    f = mock_NWBFile(session_start_time=START)
    data = np.random.default_rng(7).random((120, 4))
    mock_RoiResponseSeries(data=data, rate=15.0, nwbfile=f)
    ds = io.read(_write(f, tmp_path / "rrs.nwb"))
    assert ds.attrs["modality"] == "calcium" and ds.attrs["sfreq"] == 15.0
    np.testing.assert_array_equal(ds["signal"].values, data)
    assert ds["unit"].values.tolist() == ["a.u."] * 4  # the mock's unit is "n.a."


def test_image_mask_rois_get_their_weighted_centroid_on_the_plane_grid(tmp_path):
    from pynwb.ophys import OpticalChannel, PlaneSegmentation

    f = mock_NWBFile(session_start_time=START)
    plane = f.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="g", description="g",
                                                     emission_lambda=510.0),
        description="d", device=f.create_device(name="scope", description="2p"),
        excitation_lambda=920.0, indicator="GCaMP6f", location="VISp",
        grid_spacing=[1.5, 2.5], grid_spacing_unit="micrometers", origin_coords=[10.0, 20.0],
        origin_coords_unit="micrometers")
    seg = PlaneSegmentation(name="seg", description="d", imaging_plane=plane)
    masks = np.zeros((2, 8, 6))
    masks[0, 2, 3] = 1.0
    masks[1, 4:6, 1] = [1.0, 3.0]  # centroid ((4 + 3 * 5) / 4, 1) = (4.75, 1)
    for m in masks:
        seg.add_roi(image_mask=m)
    mock_RoiResponseSeries(data=np.ones((20, 2)), plane_segmentation=seg, nwbfile=f,
                           rois=seg.create_roi_table_region(region=[0, 1], description="all"))
    ds = io.read(_write(f, tmp_path / "img.nwb"))
    np.testing.assert_allclose(ds["x"].values, (10.0 + np.array([2.0, 4.75]) * 1.5) * 1e-6)
    np.testing.assert_allclose(ds["y"].values, (20.0 + np.array([3.0, 1.0]) * 2.5) * 1e-6)
    assert np.isnan(ds["z"].values).all()


# ---------------------------------------------------------------------------- neuroconv-style


@pytest.fixture
def lab_file(tmp_path):
    """Acquisition AP band (int16), ecephys LFP, Units with electrodes and waveforms, ophys
    Fluorescence and DfOverF over one PlaneSegmentation with pixel masks, trials."""
    from pynwb.ecephys import LFP, ElectricalSeries
    from pynwb.file import Subject
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel

    rng = np.random.default_rng(8)
    f = mock_NWBFile(
        session_start_time=START, session_description="visual discrimination",
        experimenter=["Doe, Jane", "Roe, Rich"], lab="Vision lab", institution="Some U",
        keywords=["V1", "mouse"], related_publications=["doi:10.1000/xyz"],
        session_id="ses-4",
        subject=Subject(subject_id="M12", species="Mus musculus", sex="M", age="P90D",
                        genotype="Ai93"),
    )
    from pynwb.device import DeviceModel

    imec = DeviceModel(name="NP1.0", manufacturer="IMEC", description="Neuropixels 1.0")
    f.add_device_model(imec)
    probe = f.create_device(name="Probe0", description="Neuropixels 1.0", model=imec)
    group = f.create_electrode_group(name="s0", description="shank 0", location="VISp",
                                     device=probe)
    for col, desc in (("channel_name", "channel name"), ("rel_x", "x on the probe (um)"),
                      ("rel_y", "y on the probe (um)"), ("gain_to_uV", "gain")):
        f.add_electrode_column(col, desc)
    for i in range(6):
        f.add_electrode(group=group, group_name="s0", location="VISp" if i < 3 else "VISl",
                        channel_name=f"AP{i}", rel_x=16.0 * (i % 2), rel_y=20.0 * i,
                        gain_to_uV=0.195, imp=np.nan, filtering="none",
                        x=1000.0 + i, y=2000.0, z=3000.0 - 20 * i)
    region = f.create_electrode_table_region(list(range(6)), "all")
    ap = rng.integers(-500, 500, (3000, 6)).astype(np.int16)
    f.add_acquisition(ElectricalSeries(name="ElectricalSeriesAP", data=ap, rate=30000.0,
                                       electrodes=region, conversion=1.95e-7,
                                       channel_conversion=np.full(6, 1.0)))
    lfp_data = rng.standard_normal((250, 6)).astype(np.float32)
    ecephys = f.create_processing_module("ecephys", "processed extracellular")
    lfp = LFP(name="LFP")
    lfp.add_electrical_series(ElectricalSeries(
        name="ElectricalSeriesLFP", data=lfp_data, rate=2500.0, electrodes=region,
        conversion=1e-6))
    ecephys.add(lfp)
    f.add_unit_column("quality", "curation label")
    for u in range(4):
        f.add_unit(spike_times=np.sort(rng.uniform(0.0, 0.1, 30)), electrodes=[u, u + 1],
                   waveform_mean=rng.standard_normal((20, 2)), quality="good")
    scope = f.create_device(name="Microscope", description="2p")
    plane = f.create_imaging_plane(
        name="ImagingPlane", optical_channel=OpticalChannel(name="Green", description="g",
                                                            emission_lambda=510.0),
        description="L2/3", device=scope, excitation_lambda=920.0, indicator="GCaMP6s",
        location="VISp", imaging_rate=30.0, grid_spacing=[2e-6, 2e-6],
        grid_spacing_unit="meters", origin_coords=[1e-3, 2e-3], origin_coords_unit="meters")
    ophys = f.create_processing_module("ophys", "optical physiology")
    seg_container = ImageSegmentation(name="ImageSegmentation")
    ophys.add(seg_container)
    seg = seg_container.create_plane_segmentation(name="PlaneSegmentation",
                                                  description="suite2p", imaging_plane=plane)
    for i in range(3):
        seg.add_roi(pixel_mask=[(10 + i, 20, 1.0), (12 + i, 20, 1.0), (11 + i, 23, 2.0)])
    rois = seg.create_roi_table_region(region=[0, 1, 2], description="all")
    fluo, dff = Fluorescence(name="Fluorescence"), DfOverF(name="DfOverF")
    ophys.add(fluo)
    ophys.add(dff)
    f_data = rng.random((90, 3)).astype(np.float32)
    fluo.create_roi_response_series(name="RoiResponseSeries", data=f_data, rate=30.0,
                                    rois=rois, unit="a.u.")
    dff.create_roi_response_series(name="RoiResponseSeries", data=f_data - 0.5, rate=30.0,
                                   rois=seg.create_roi_table_region(region=[0, 1, 2],
                                                                    description="all"),
                                   unit="n.a.")
    f.add_trial(start_time=0.01, stop_time=0.03)
    f.add_trial(start_time=0.05, stop_time=0.08)
    path = tmp_path / "sub-M12_ses-4_ecephys+ophys.nwb"
    _write(f, path)
    return {"path": path, "ap": ap, "lfp": lfp_data, "fluo": f_data}


def test_several_series_without_a_choice_is_one_line_listing_them(lab_file):
    with pytest.raises(InputError) as err:
        io.read(lab_file["path"])
    text = _one_line(err)
    for name in ("acquisition/ElectricalSeriesAP", "processing/ecephys/LFP/ElectricalSeriesLFP",
                 "processing/ophys/DfOverF/RoiResponseSeries",
                 "processing/ophys/Fluorescence/RoiResponseSeries", "units"):
        assert name in text
    assert "series" in text


def test_acquisition_series_with_a_probe_electrodes_table_is_read_in_volts(lab_file):
    ds = io.read(lab_file["path"], series="ElectricalSeriesAP")
    np.testing.assert_allclose(ds["signal"].values, lab_file["ap"] * 1.95e-7, rtol=1e-12)
    assert ds["channel"].values.tolist() == [f"AP{i}" for i in range(6)]
    assert ds["region"].values.tolist() == ["VISp"] * 3 + ["VISl"] * 3
    np.testing.assert_allclose(ds["z"].values, (3000.0 - 20 * np.arange(6)) * 1e-6)
    assert ds["channel_type"].values.tolist() == ["seeg"] * 6  # "Neuropixels" probe
    assert ds.attrs["sfreq"] == 30000.0


def test_lfp_in_a_processing_module_is_picked_by_path_and_typed_by_modality(lab_file):
    ds = io.read(lab_file["path"], modality="ecog",
                 series="processing/ecephys/LFP/ElectricalSeriesLFP")
    np.testing.assert_allclose(ds["signal"].values, lab_file["lfp"].astype(np.float64) * 1e-6,
                               rtol=1e-7)
    assert ds.attrs["modality"] == "ecog" and ds.attrs["sfreq"] == 2500.0
    assert ds.attrs["channel_type_source"] == "modality ecog given for the dataset"


def test_modality_keeps_the_matching_kind_and_spikes_need_no_series(lab_file):
    ds = io.read(lab_file["path"], modality="spikes", bin_width=0.01)
    assert ds.attrs["nwb_series"] == "units" and ds.sizes["channel"] == 4
    assert ds["channel"].values.tolist() == ["0", "1", "2", "3"]  # ids: no name column
    # units 0-1 sit on VISp electrodes only, unit 2 straddles VISp/VISl, unit 3 VISl only
    assert ds["region"].values.tolist() == ["VISp", "VISp", "unknown", "VISl"]
    for u, times in enumerate(_source_spike_times(lab_file["path"])):
        expected, _ = np.histogram(times, bins=_edges(ds))
        np.testing.assert_array_equal(ds["signal"].values[:, u], expected)


def test_fluorescence_is_read_with_roi_positions_on_the_plane_grid(lab_file):
    with pytest.raises(InputError, match="2 RoiResponseSeries candidates"):
        io.read(lab_file["path"], modality="calcium")
    ds = io.read(lab_file["path"], modality="calcium",
                 series="processing/ophys/Fluorescence/RoiResponseSeries")
    np.testing.assert_array_equal(ds["signal"].values, lab_file["fluo"])
    assert ds["unit"].values.tolist() == ["a.u."] * 3
    assert ds["region"].values.tolist() == ["VISp"] * 3
    # weighted centroid of (10+i, 20, 1), (12+i, 20, 1), (11+i, 23, 2): (11+i, 21.5)
    i = np.arange(3)
    np.testing.assert_allclose(ds["x"].values, 1e-3 + (11 + i) * 2e-6)
    np.testing.assert_allclose(ds["y"].values, np.full(3, 2e-3 + 21.5 * 2e-6))
    dff = io.read(lab_file["path"], series="processing/ophys/DfOverF/RoiResponseSeries")
    assert dff["unit"].values.tolist() == ["dF/F"] * 3


def test_trials_become_events(lab_file):
    ds = io.read(lab_file["path"], series="ElectricalSeriesLFP")
    ev = schema.get_events(ds)
    np.testing.assert_allclose(ev["onset"], [0.01, 0.05])
    np.testing.assert_allclose(ev["duration"], [0.02, 0.03])
    assert ev["label"].tolist() == ["trials", "trials"]


def test_trial_type_column_labels_the_events(tmp_path):
    f = mock_NWBFile(session_start_time=START)
    mock_Units(nwbfile=f)
    f.add_trial_column("trial_type", "condition")
    for i, kind in enumerate(["left", "right", "left"]):
        f.add_trial(start_time=float(i), stop_time=i + 0.5, trial_type=kind)
    ds = io.read(_write(f, tmp_path / "t.nwb"))
    assert schema.get_events(ds)["label"].tolist() == ["left", "right", "left"]


def test_session_and_subject_metadata_come_from_the_file_and_nothing_else(lab_file):
    ds = io.read(lab_file["path"], series="ElectricalSeriesLFP")
    a = ds.attrs
    assert a["session_start_time"] == "2021-03-04T10:30:15-05:00"
    assert a["start_time_source"] == "nwb:/session_start_time"
    assert (a["species"], a["sex"], a["age"], a["genotype"]) == ("Mus musculus", "M", "P90D",
                                                                 "Ai93")
    assert a["experimenter"] == ["Doe, Jane", "Roe, Rich"]
    assert a["keywords"] == ["V1", "mouse"]
    assert a["related_publications"] == ["doi:10.1000/xyz"]
    assert (a["lab"], a["institution"]) == ("Vision lab", "Some U")
    assert a["session_description"] == "visual discrimination"
    assert a["devices"] == [
        {"name": "Microscope", "description": "2p"},
        {"name": "Probe0", "manufacturer": "IMEC", "model": "NP1.0",
         "description": "Neuropixels 1.0"},
    ]
    for absent in ("strain", "date_of_birth", "subject_description"):
        assert absent not in a
    assert a["metadata_sources"]["sex"] == "nwb:/general/subject/sex"
    assert (a["subject"], a["session"]) == ("M12", "4")


@pytest.mark.parametrize("modality", ["calcium", "spikes"])
def test_lab_file_ingests_and_its_archive_passes_nwbinspector(lab_file, tmp_path, modality):
    series = {"calcium": "Fluorescence/RoiResponseSeries"}.get(modality)
    series = f"processing/ophys/{series}" if series else None
    out = run_ingest([lab_file["path"]], tmp_path / modality, modality=modality,
                     **({"series": series} if series else {}))
    with store.read_nwb(out["nwb"]) as back:
        assert back.attrs["modality"] == modality
        assert back.attrs["species"] == "Mus musculus"
