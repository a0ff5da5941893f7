"""NWB files of other tools as a source, continued: bad files in one line, the contract of
the spike times, memory of binning long Units tables, and a GLM-HMM fitted to Units.

Fixtures and helpers are shared with ``test_nwb_source.py``.
"""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest
from conftest import run_ingest, run_step

from neurodag import io, schema, store
from neurodag.errors import ConfigError, ContractError, InputError

pynwb = pytest.importorskip("pynwb")
from pynwb import NWBHDF5IO  # noqa: E402
from pynwb.testing.mock.ecephys import mock_ElectricalSeries  # noqa: E402
from pynwb.testing.mock.file import mock_NWBFile  # noqa: E402
from test_nwb_source import (  # noqa: E402, F401  (fixtures are used by name)
    START,
    _close_files,
    _edges,
    _one_line,
    _source_spike_times,
    _write,
    lab_file,
    mock_units_file,
)

# ---------------------------------------------------------------------------- bad files


def test_file_with_nothing_to_read_is_one_line(tmp_path):
    path = _write(mock_NWBFile(session_start_time=START), tmp_path / "empty.nwb")
    with pytest.raises(InputError, match=r"empty\.nwb: no ElectricalSeries, RoiResponseSeries "
                                         r"or Units to read") as err:
        io.read(path)
    _one_line(err)


def test_modality_without_a_matching_series_is_one_line(mock_units_file):
    with pytest.raises(InputError, match=r"units\.nwb: no ElectricalSeries to read for "
                                         r"modality eeg"):
        io.read(mock_units_file, modality="eeg")
    with pytest.raises(InputError, match=r"reads no fmri series"):
        io.read(mock_units_file, modality="fmri")


def test_unknown_or_ambiguous_series_is_one_line(lab_file):
    with pytest.raises(InputError, match=r"series 'LFP' is not one of the candidates \["):
        io.read(lab_file["path"], series="LFP")
    with pytest.raises(InputError, match=r"series 'RoiResponseSeries' names several"):
        io.read(lab_file["path"], series="RoiResponseSeries")


def test_nan_samples_stop_the_ingest_naming_the_source(tmp_path):
    f = mock_NWBFile(session_start_time=START)
    data = np.ones((50, 5))
    data[20, 3] = np.nan
    mock_ElectricalSeries(data=data, rate=100.0, nwbfile=f)
    path = _write(f, tmp_path / "nan.nwb")
    with pytest.raises(ContractError, match=rf"^{re.escape(str(path))}: signal has NaN") as err:
        run_ingest([path], tmp_path / "out", modality="eeg")
    _one_line(err)
    assert not (tmp_path / "out" / "raw.zarr").exists()
    assert not (tmp_path / "out" / "raw.nwb").exists()


@pytest.mark.parametrize(("times", "problem"), [
    ([0.1, np.nan, 0.3], "are NaN or infinite"),
    ([0.3, 0.1, 0.2], "are not sorted"),
])
def test_bad_spike_times_are_one_line_naming_the_unit(tmp_path, times, problem):
    f = mock_NWBFile(session_start_time=START)
    f.add_unit(spike_times=[0.0, 0.5])
    f.add_unit(spike_times=times)
    path = _write(f, tmp_path / "bad.nwb")
    with pytest.raises(InputError, match=rf"bad\.nwb: spike times of unit '1' {problem}") as err:
        io.read(path)
    _one_line(err)


def test_truncated_file_is_one_line(mock_units_file, tmp_path):
    blob = mock_units_file.read_bytes()
    path = tmp_path / "cut.nwb"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InputError, match=r"cut\.nwb: truncated or corrupted HDF5") as err:
        io.read(path)
    _one_line(err)


@pytest.mark.parametrize(("options", "problem"), [
    ({"bin_width": 0}, r"ingest.bin_width: expected a number > 0 and < inf, got 0"),
    ({"bin_width": "10ms"}, r"ingest.bin_width: expected a number or null, got '10ms'"),
    ({"series": ""}, r"ingest.series: expected a non-empty string"),
])
def test_bad_nwb_options_are_config_errors(mock_units_file, options, problem):
    with pytest.raises(ConfigError, match=problem):
        io.read(mock_units_file, **options)


def test_config_takes_nwb_reader_options(tmp_path, mock_units_file):
    from neurodag import config

    cfg = {"datasets": {"dandi_units": {
        "modality": "spikes", "source": {"files": str(mock_units_file)},
        "ingest": {"bin_width": 0.02, "series": "units"}}}}
    assert config.check(cfg)["datasets"]["dandi_units"]["ingest"]["bin_width"] == 0.02
    cfg["datasets"]["dandi_units"]["ingest"] = {"bin_width": -1}
    with pytest.raises(ConfigError, match=r"datasets\.dandi_units\.ingest\.bin_width"):
        config.check(cfg)


def test_cli_ingests_an_nwb_file_with_a_bin_width(mock_units_file, tmp_path, capsys):
    from neurodag.cli import main

    main(["ingest", str(mock_units_file), "--out", str(tmp_path / "cli"),
          "--set", "bin_width=0.1"])
    ds = store.read_signal(tmp_path / "cli" / "raw.zarr")
    assert ds.attrs["bin_width"] == 0.1 and ds.attrs["modality"] == "spikes"


# ---------------------------------------------------------------------------- contract


def test_spike_time_slices_outside_the_array_break_the_contract(mock_units_file):
    ds = io.read(mock_units_file).load()
    bad = ds.assign_coords(spike_stop=ds["spike_stop"] + 1000)
    with pytest.raises(ContractError, match=r"spike_start/spike_stop of channels"):
        schema.validate(bad, check_values=False)
    backwards = schema.set_spike_times(ds, ds["spike_times"].values[::-1],
                                       ds["spike_start"].values, ds["spike_stop"].values)
    with pytest.raises(ContractError, match=r"spike times of channel 'unit_0' are not"):
        schema.validate(backwards)


def _units_file(path, n_units: int, duration: float, rate: float = 10.0):
    f = mock_NWBFile(session_start_time=START)
    rng = np.random.default_rng(11)
    for _ in range(n_units):
        f.add_unit(spike_times=np.sort(rng.uniform(0.0, duration, int(rate * duration))))
    return _write(f, path)


def _ingest_units(source, out) -> int:
    """Bin, store and archive; the peak of traced memory meanwhile, in bytes."""
    tracemalloc.start()
    with io.read(source, bin_width=0.001) as ds:
        store.write_signal(ds, out / "raw.zarr")
    with store.read_signal(out / "raw.zarr") as ds:
        store.write_nwb(ds, out / "raw.nwb")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


@pytest.fixture
def untraced():
    """Tracing stops at the end of the test, also when it fails mid-trace."""
    yield
    tracemalloc.stop()


@pytest.mark.slow
def test_binning_and_archiving_units_memory_does_not_grow_with_length(tmp_path, monkeypatch,
                                                                      untraced):
    monkeypatch.setattr("neurodag.store.zarrstore.CHUNK_BYTES", 1 << 18)  # 256 kB chunks
    n_units, short_s, long_s = 64, 20.0, 320.0
    sources = [_units_file(tmp_path / f"{s:g}.nwb", n_units, s) for s in (short_s, long_s)]
    short = _ingest_units(sources[0], tmp_path / "short")
    long = _ingest_units(sources[1], tmp_path / "long")
    n_bins = int(long_s / 0.001)
    extra_bins = n_bins - int(short_s / 0.001)
    # 300,000 more bins are 77 MB more float32 counts (256 bytes a bin for 64 units), which
    # stream; what grows is the in-memory time axis (the coordinate, the index xarray keeps,
    # the edges while binning, the observed mask: a few copies of 8 bytes a bin).
    assert long - short < 0.2 * extra_bins * n_units * 4
    with NWBHDF5IO(str(tmp_path / "long" / "raw.nwb"), "r") as r:
        g = r.read()
        rows, cols = g.processing["misc"]["spike_counts"].data.shape
        assert cols == n_units and n_bins - 10 <= rows <= n_bins  # first to last spike
        assert g.units["spike_times"].target.data.shape == (n_units * int(10 * long_s),)


# ---------------------------------------------------------------------------- GLM-HMM


def _units_from_counts(sim, path):
    """The simulation's counts as a Units table: k spikes inside a bin of count k."""
    ds = sim.data
    bw = 1.0 / ds.attrs["sfreq"]
    counts = ds["signal"].values.astype(np.int64)
    f = mock_NWBFile(session_start_time=START)
    f.add_unit_column("unit_name", "name")
    for u, name in enumerate(ds["channel"].values):
        times = [t * bw + bw * (j + 1) / (c + 1)
                 for t, c in enumerate(counts[:, u]) for j in range(c)]
        f.add_unit(spike_times=np.asarray(times), unit_name=str(name),
                   obs_intervals=[[0.0, counts.shape[0] * bw]])
    f.add_trial_column("trial_type", "condition")
    for onset, duration in zip(ds["events"].values, ds["event_duration"].values, strict=True):
        f.add_trial(start_time=float(onset), stop_time=float(onset + duration),
                    trial_type="sequence")
    return _write(f, path)


@pytest.mark.slow
def test_glmhmm_fits_the_units_of_an_nwb_file(tmp_path):
    """Spike times binned back at the simulation's bin width are the simulation's counts
    (so every fit equals the fit to those counts), and the GLM-HMM step runs on them,
    cutting the sequences from the trials table."""
    import json

    from neurodag import synth

    sim = synth.generate("spikes", seed=5, n_states=2, n_neurons=4, n_bins=150,
                         n_sequences=3)
    path = _units_from_counts(sim, tmp_path / "sim_units.nwb")
    out = run_ingest([path], tmp_path / "nwb", bin_width=1.0 / sim.data.attrs["sfreq"])
    nwb = store.read_signal(out["zarr"])
    np.testing.assert_array_equal(nwb["signal"].values, sim.data["signal"].values)
    np.testing.assert_allclose(nwb["time"].values, sim.data["time"].values, rtol=0,
                               atol=1e-12)
    res = run_step("fit-glmhmm", {"signal": out["zarr"]}, tmp_path / "fit", states=[1, 2],
                   folds=3, max_iter=10, random_state=0, link="sigmoid")
    metrics = json.loads((res["fits"] / "metrics.json").read_text())
    assert (metrics["n_sequences"], metrics["n_bins"], metrics["n_neurons"]) == (3, 450, 4)
    assert np.isfinite(list(metrics["heldout_loglik_mean"].values())).all()
