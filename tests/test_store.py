"""Zarr store: exact round trips, chunking along time, and no finished-looking output on failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from neurodag import provenance, store
from neurodag.errors import ContractError, InputError


def test_zarr_round_trip_keeps_data_names_positions_events_and_attrs(small_eeg, tmp_path):
    provenance.stamp(small_eeg, [__file__], config_digest="c0ffee")
    store.write_signal(small_eeg, tmp_path / "raw.zarr")
    back = store.read_signal(tmp_path / "raw.zarr", check_values=True)
    np.testing.assert_array_equal(back["signal"].values, small_eeg["signal"].values)
    assert back["signal"].dtype == np.float32
    assert back["channel"].values.tolist() == ["Fp1", "Cz", "O1"]
    np.testing.assert_array_equal(back["x"].values, small_eeg["x"].values)  # NaN kept
    assert back["event_label"].values.tolist() == ["standard", "target"]
    assert back.attrs["config_digest"] == "c0ffee"
    assert back.attrs["source_sha256"] == provenance.sha256_file(__file__)
    assert back.attrs["versions"]["numpy"] == np.__version__


def test_signal_is_chunked_along_time_only(tmp_path):
    from neurodag import schema

    n_ch = 64
    ds = schema.build(np.zeros((40_000, n_ch), np.float32), sfreq=1000.0,
                      channels=[f"E{i}" for i in range(n_ch)], channel_types="eeg", modality="eeg")
    store.write_signal(ds, tmp_path / "raw.zarr")
    chunks = store.read_signal(tmp_path / "raw.zarr")["signal"].encoding["chunks"]
    assert chunks[1] == n_ch
    assert chunks[0] * n_ch * 4 <= store.zarrstore.CHUNK_BYTES
    assert chunks[0] < 40_000


def test_invalid_dataset_is_not_written(small_eeg, tmp_path):
    bad = small_eeg.assign_attrs(modality="pet")
    with pytest.raises(ContractError, match="modality 'pet'"):
        store.write_signal(bad, tmp_path / "raw.zarr")
    assert list(tmp_path.iterdir()) == []


def test_failure_during_write_leaves_no_store(small_eeg, tmp_path, monkeypatch):
    import xarray as xr

    def broken(self, path, *args, **kwargs):
        os.makedirs(path / "signal")  # something on disk, then the failure
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_zarr", broken)
    with pytest.raises(OSError, match="disk full"):
        store.write_signal(small_eeg, tmp_path / "raw.zarr")
    assert list(tmp_path.iterdir()) == []


def test_a_previous_store_survives_a_failed_rewrite(small_eeg, tmp_path, monkeypatch):
    import xarray as xr

    store.write_signal(small_eeg, tmp_path / "raw.zarr")
    monkeypatch.setattr(xr.Dataset, "to_zarr", lambda *a, **k: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(OSError):
        store.write_signal(small_eeg, tmp_path / "raw.zarr")
    monkeypatch.undo()
    assert store.read_signal(tmp_path / "raw.zarr").sizes["time"] == 1000


@pytest.mark.slow
def test_a_killed_writer_leaves_nothing_that_looks_finished(tmp_path):
    target = tmp_path / "raw.zarr"
    script = f"""
import numpy as np, dask.array as da
from neurodag import schema, store
n_ch = 32
data = da.random.default_rng(0).standard_normal((20_000_000, n_ch), chunks=(100_000, n_ch)).astype("float32")
ds = schema.build(data, sfreq=1000.0, channels=[f"E{{i}}" for i in range(n_ch)],
                  channel_types="eeg", modality="eeg")
store.write_signal(ds, {str(target)!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while time.time() < deadline and not any(tmp_path.glob(".raw.zarr.*.partial/signal/c")):
        time.sleep(0.2)
    time.sleep(1.0)
    assert proc.poll() is None, "the writer finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    assert [p.name.endswith(".partial") and p.name.startswith(".") for p in tmp_path.iterdir()] == [True]


def test_reading_a_missing_or_broken_store_is_one_line(tmp_path):
    with pytest.raises(InputError, match="no such zarr store"):
        store.read_signal(tmp_path / "absent.zarr")
    broken = tmp_path / "broken.zarr"
    broken.mkdir()
    (broken / "zarr.json").write_text("{not json")
    with pytest.raises(InputError, match=r"broken.zarr: not a readable zarr store"):
        store.read_signal(broken)


def test_json_is_written_atomically(tmp_path):
    path = store.write_json({"b": np.float32(1.5), "a": [1, 2]}, tmp_path / "qc.json")
    assert path.read_text().startswith('{\n  "a"')
    with pytest.raises(TypeError):
        store.write_json({"x": object()}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qc.json"]


def test_nan_samples_abort_the_write_and_name_the_channel(small_eeg, tmp_path):
    bad = small_eeg.copy(deep=True)
    bad["signal"][500, 2] = np.inf
    with pytest.raises(ContractError, match=r"raw.zarr: signal has NaN or Inf samples \(channels \['O1'\]\)"):
        store.write_signal(bad.chunk({"time": 100}), tmp_path / "raw.zarr")
    assert list(tmp_path.iterdir()) == []


def test_stores_open_in_xarray_without_warnings(small_eeg, tmp_path):
    # A user's xr.open_zarr(raw.zarr) warned "Failed to open Zarr store with consolidated
    # metadata ..." (three lines) on every store: their metadata was not consolidated.
    import warnings

    import xarray as xr

    from neurodag.store.zarrstore import SignalWriter, lazy_zeros

    paths = [store.write_signal(small_eeg, tmp_path / "whole.zarr")]
    zeros = lazy_zeros(small_eeg.sizes["time"], small_eeg.sizes["channel"], np.float32)
    writer = SignalWriter(small_eeg.assign(signal=small_eeg["signal"].copy(data=zeros)),
                          tmp_path / "blk.zarr")
    writer.write(small_eeg["signal"].values)
    paths.append(writer.close())
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            back = xr.open_zarr(path)
        np.testing.assert_array_equal(back["signal"].values, small_eeg["signal"].values)
