"""NWB files of other tools read as signals (third-party ElectricalSeries, timestamps,
RoiResponseSeries), and real recordings written to NWB and read back.

Continues ``test_nwb.py`` (its constants are shared).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import xarray as xr
from test_nwb import PROVENANCE, REAL

from neurodag import schema
from neurodag.errors import InputError
from neurodag.store import inspect_nwb, read_nwb, write_nwb

# ---------------------------------------------------------------------------- other files


def _third_party_ephys(path, *, subject=True, label=False, timestamps=None):
    """An NWB file made directly with pynwb, as another lab would: int16 + conversion."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries
    from pynwb.file import Subject

    f = NWBFile(session_description="lab recording", identifier="lab-0001",
                session_start_time=dt.datetime(2020, 5, 1, 10, 0, tzinfo=dt.UTC),
                session_id="ses-3",
                subject=Subject(subject_id="sub-mouse1", species="Mus musculus", sex="F",
                                age="P90D") if subject else None)
    dev = f.create_device(name="amp", description="amplifier")
    grid = f.create_electrode_group("grid", description="ECoG grid over motor cortex",
                                    location="MOp", device=dev)
    if label:
        f.add_electrode_column("label", "electrode label")
    for i in range(4):
        f.add_electrode(location="MOp", group=grid, x=100.0 * i, y=250.0, z=np.nan,
                        **({"label": f"E{i + 1}"} if label else {}))
    n = 300 if timestamps is None else len(timestamps)
    data = (np.arange(n * 4, dtype=np.int64).reshape(n, 4) % 200 - 100).astype(np.int16)
    timing = {"rate": 1000.0, "starting_time": 0.5} if timestamps is None else {
        "timestamps": timestamps}
    f.add_acquisition(ElectricalSeries(
        name="raw", data=data, conversion=2e-6,
        electrodes=f.create_electrode_table_region(list(range(4)), "all"), **timing))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    return path


def test_third_party_electrical_series_is_read_with_ids_as_names(tmp_path):
    path = _third_party_ephys(tmp_path / "lab.nwb")
    with read_nwb(path) as ds:
        assert ds["channel"].values.tolist() == ["0", "1", "2", "3"]
        assert ds["channel_type"].values.tolist() == ["ecog"] * 4  # "ECoG grid" in the group
        assert ds.attrs["modality"] == "ecog"
        assert ds.attrs["sfreq"] == 1000.0 and ds["time"].values[0] == 0.5
        expected = (np.arange(1200).reshape(300, 4) % 200 - 100) * 2e-6
        np.testing.assert_allclose(ds["signal"].values, expected, rtol=1e-12)
        np.testing.assert_allclose(ds["x"].values, [0.0, 1e-4, 2e-4, 3e-4])
        assert np.isnan(ds["z"].values).all()
        assert ds["region"].values.tolist() == ["MOp"] * 4
        assert (ds.attrs["subject"], ds.attrs["session"]) == ("mouse1", "3")
        assert ds.attrs["species"] == "Mus musculus"
        assert len(ds.attrs["source_sha256"]) == 64


def test_third_party_timestamps_give_the_median_rate(tmp_path):
    ts = np.arange(400) / 250.0
    ts[100:] += 0.0004  # one late sample clock step
    with read_nwb(_third_party_ephys(tmp_path / "ts.nwb", timestamps=ts)) as ds:
        assert ds.attrs["sfreq"] == pytest.approx(250.0, rel=1e-9)
        np.testing.assert_array_equal(ds["time"].values, ts)


def test_non_monotonic_timestamps_are_rejected(tmp_path):
    ts = np.arange(400) / 250.0
    ts[[200, 201]] = ts[[201, 200]]
    path = _third_party_ephys(tmp_path / "back.nwb", timestamps=ts)
    with pytest.raises(InputError, match=r"back\.nwb: timestamps .* not strictly increasing "
                                         r"\(sample 201\)"):
        read_nwb(path)


def test_third_party_roi_response_series_is_read_as_calcium(tmp_path):
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import DfOverF, OpticalChannel, PlaneSegmentation

    f = NWBFile(session_description="2p", identifier="lab-2p",
                session_start_time=dt.datetime(2020, 5, 1, tzinfo=dt.UTC))
    dev = f.create_device(name="scope")
    plane = f.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="green", description="g",
                                                     emission_lambda=520.0),
        description="L2/3", device=dev, excitation_lambda=920.0, indicator="GCaMP6f",
        location="VISp")
    seg = PlaneSegmentation(name="seg", description="suite2p", imaging_plane=plane)
    for i in range(3):
        seg.add_roi(pixel_mask=[(i, i, 1.0), (i + 1, i, 0.5)])
    mod = f.create_processing_module("ophys", "optical physiology")
    mod.add(seg)
    dff = DfOverF(name="DfOverF")
    mod.add(dff)
    signal = np.random.default_rng(10).standard_normal((200, 3)).astype(np.float32)
    dff.create_roi_response_series(
        name="dff", data=signal, unit="n.a.", rate=30.0,
        rois=seg.create_roi_table_region(region=[0, 1, 2], description="all"))
    with NWBHDF5IO(str(tmp_path / "2p.nwb"), "w") as io:
        io.write(f)
    with read_nwb(tmp_path / "2p.nwb") as ds:
        assert ds.attrs["modality"] == "calcium"
        assert ds["unit"].values.tolist() == ["dF/F"] * 3
        assert ds["channel_type"].values.tolist() == ["neuron"] * 3
        assert ds["region"].values.tolist() == ["VISp"] * 3
        np.testing.assert_array_equal(ds["signal"].values, signal)
        assert ds.attrs["sfreq"] == 30.0


def test_third_party_file_with_labels_can_be_rewritten_as_ours(tmp_path):
    with read_nwb(_third_party_ephys(tmp_path / "lab.nwb", label=True)) as ds:
        assert ds["channel"].values.tolist() == ["E1", "E2", "E3", "E4"]  # the label column
        write_nwb(ds, tmp_path / "ours.nwb")
        assert inspect_nwb(tmp_path / "ours.nwb") == []
        with read_nwb(tmp_path / "ours.nwb") as back:
            xr.testing.assert_identical(back.load(), ds.load())
            assert back.attrs["session_start_time"] == "2020-05-01T10:00:00+00:00"


# ---------------------------------------------------------------------------- real data


@pytest.mark.skipif(not (REAL / "test.vhdr").exists(), reason="real recordings not available")
def test_real_brainvision_recording_round_trips_and_passes_inspection(tmp_path):
    import mne

    raw = mne.io.read_raw_brainvision(REAL / "test.vhdr", preload=True, verbose="error")
    types = raw.get_channel_types()
    ann = raw.annotations
    pos = np.array([ch["loc"][:3] for ch in raw.info["chs"]])
    pos[~np.isfinite(pos).all(axis=1) | (np.abs(pos).sum(axis=1) == 0)] = np.nan
    ds = schema.build(
        raw.get_data().T, sfreq=raw.info["sfreq"], channels=raw.ch_names,
        channel_types=[t if t in schema.CHANNEL_TYPES else "misc" for t in types],
        modality="eeg", positions=pos, source=str(REAL / "test.vhdr"),
        events={"onset": ann.onset, "duration": ann.duration, "label": ann.description},
    )
    path = write_nwb(ds, tmp_path / "bv.nwb")
    assert inspect_nwb(path) == []
    with read_nwb(path) as back:
        xr.testing.assert_identical(back.load(), ds)
    assert len(ann) > 0 and ds.sizes["channel"] == len(raw.ch_names)


def test_suite2p_neuropil_round_trips_beside_the_calcium_signal(tmp_path):
    rng = np.random.default_rng(5)
    ds = schema.build(rng.random((50, 3)).astype(np.float32), sfreq=30.0,
                      channels=["c0", "c1", "c2"], channel_types="neuron", modality="calcium",
                      attrs=dict(PROVENANCE))
    neuropil = rng.random((50, 3)).astype(np.float32)
    ds = ds.assign(neuropil=(("time", "channel"), neuropil, {"units": "a.u."}))
    write_nwb(ds, tmp_path / "s2p.nwb")
    assert inspect_nwb(tmp_path / "s2p.nwb") == []
    with read_nwb(tmp_path / "s2p.nwb") as back:
        np.testing.assert_array_equal(back["neuropil"].values, neuropil)
        np.testing.assert_array_equal(back["signal"].values, ds["signal"].values)


def test_inspect_reports_a_file_without_subject(tmp_path):
    path = _third_party_ephys(tmp_path / "nosubject.nwb", subject=False)
    lines = inspect_nwb(path)
    assert any(line.startswith("CRITICAL") and "subject" in line.lower() for line in lines)
    assert all("\n" not in line for line in lines)
