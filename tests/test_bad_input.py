"""A corpus of broken inputs: each gives one line naming the file and the problem, and nothing.

Every case is built in a temporary folder, from a real recording of ../shared/data/real
where one exists (those cases skip when it is absent) or from neurodag's synthetic files.
Each case is checked twice: in-process through the ingest step (:mod:`neurodag.steps.ingest`, fast), and
through the real command line ``neurodag ingest ... --out DIR`` (slow: a process per
case), which must exit with code 2, print exactly one line on stderr and leave no
``raw.zarr``, ``raw.nwb`` or ``*.partial`` in DIR.
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mne
import numpy as np
import pytest
from conftest import run_ingest

from neurodag import synth
from neurodag.errors import InputError

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
NEURODAG = Path(sys.executable).with_name("neurodag")


def _real(name: str) -> Path:
    if not (REAL / name).is_file():
        pytest.skip(f"{REAL / name} is absent")
    return REAL / name


def _edf_header_fields(data: bytes) -> tuple[int, int, int]:
    header, n_records, n_signals = int(data[184:192]), int(data[236:244]), int(data[252:256])
    return header, n_records, n_signals


# Each builder writes its broken file(s) into ``d`` and returns
# (ingest inputs, reader options, the file the message must name, words it must contain).

def truncated_edf(d: Path):
    data = _real("test.edf").read_bytes()
    header, n_records, _ = _edf_header_fields(data)
    cut = header + (len(data) - header) * 2 // 5 + 100  # mid-record, 40 % of the data
    (d / "cut.edf").write_bytes(data[:cut])
    return [d / "cut.edf"], {}, "cut.edf", ["truncated EDF", f"{n_records} data records"]


def lying_edf_header(d: Path):
    data = bytearray(_real("test.edf").read_bytes())
    n = _edf_header_fields(bytes(data))[2]
    data[252:256] = f"{n + 5:<4d}".encode()
    (d / "lies.edf").write_bytes(bytes(data))
    return [d / "lies.edf"], {}, "lies.edf", [f"says {n + 5} signals", "lies about its channel"]


def zero_length(d: Path):
    (d / "empty.edf").write_bytes(b"")
    return [d / "empty.edf"], {}, "empty.edf", ["empty (0 bytes)"]


def edf_named_vhdr(d: Path):
    shutil.copy(_real("test.edf"), d / "renamed.vhdr")
    return [d / "renamed.vhdr"], {}, "renamed.vhdr", ["not a BrainVision header",
                                                      "an EDF file"]


def text_named_fif(d: Path):
    (d / "notes_raw.fif").write_text("subject was sleepy\n")
    return [d / "notes_raw.fif"], {}, "notes_raw.fif", ["not a FIF file",
                                                        "text 'subject was sleepy'"]


def truncated_fif(d: Path):
    src = synth.write(synth.generate("eeg", seed=0, duration=20.0), d / "synth")[0]
    data = src.read_bytes()
    (d / "cut_raw.fif").write_bytes(data[: len(data) * 3 // 5])
    return [d / "cut_raw.fif"], {}, "cut_raw.fif", ["truncated FIF"]


def _synth_bold(d: Path) -> Path:
    return synth.write(synth.generate("fmri", seed=0), d / "synth")[0]


def truncated_nii(d: Path):
    raw = gzip.decompress(_synth_bold(d).read_bytes())
    (d / "cut.nii").write_bytes(raw[: len(raw) // 2])
    return [d / "cut.nii"], {"voxels": True}, "cut.nii", ["truncated or corrupt image data"]


def truncated_nii_gz(d: Path):
    data = _synth_bold(d).read_bytes()
    (d / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    return [d / "cut.nii.gz"], {"voxels": True}, "cut.nii.gz", ["truncated or corrupt"]


def nan_in_csv(d: Path):
    (d / "nan.csv").write_text("time,a,b\n0,1,2\n0.5,nan,2\n1.0,1,2\n")
    return [d / "nan.csv"], {"modality": "calcium"}, "nan.csv", ["NaN or Inf", "['a']"]


def inf_in_csv(d: Path):
    (d / "inf.csv").write_text("time,a,b\n0,1,2\n0.5,1,-inf\n1.0,1,2\n")
    return [d / "inf.csv"], {"modality": "calcium"}, "inf.csv", ["NaN or Inf", "['b']"]


def nan_in_fif(d: Path):
    x = np.random.default_rng(0).normal(0, 1e-5, (3, 500))
    x[1, 250] = np.nan
    raw = mne.io.RawArray(x, mne.create_info(["Fz", "Cz", "Pz"], 100.0, "eeg"), verbose="error")
    raw.save(d / "nan_raw.fif", verbose="error")
    # Found while streaming to zarr; the message names the source, not the output.
    return [d / "nan_raw.fif"], {}, "nan_raw.fif", ["NaN or Inf samples", "['Cz']"]


def duplicate_names_csv(d: Path):
    (d / "dup.csv").write_text("time,AVAL,AVAL\n0,1,2\n0.5,1,2\n")
    return [d / "dup.csv"], {"modality": "calcium"}, "dup.csv", ["duplicate", "AVAL"]


def _brainvision(d: Path, names, base: str) -> Path:
    import pybv

    pybv.write_brainvision(data=np.random.default_rng(1).normal(0, 1e-5, (len(names), 200)),
                           sfreq=250.0, ch_names=list(names), fname_base=base, folder_out=d)
    return d / f"{base}.vhdr"


def duplicate_names_vhdr(d: Path):
    vhdr = _brainvision(d, ["C3", "C4", "Cz"], "dup")
    vhdr.write_text(vhdr.read_text().replace("Ch2=C4,", "Ch2=C3,"))
    return [vhdr], {}, "dup.vhdr", ["duplicate channel names"]


def vhdr_without_eeg(d: Path):
    vhdr = _brainvision(d, ["C3", "C4"], "lost")
    (d / "lost.eeg").unlink()
    return [vhdr], {}, "lost.vhdr", ["data file 'lost.eeg'", "missing"]


def _real_brainvision(d: Path, keep) -> Path:
    """MNE's real test.vhdr/.vmrk with ``keep(size)`` bytes of its test.eeg."""
    for part in ("test.vhdr", "test.vmrk"):
        shutil.copy(_real(part), d / part)
    data = _real("test.eeg").read_bytes()
    (d / "test.eeg").write_bytes(data[: keep(len(data))])
    return d / "test.vhdr"


def truncated_vhdr_mid_sample(d: Path):
    # 32 channels of INT_16: 64 bytes a sample; MNE silently drops the partial one
    vhdr = _real_brainvision(d, lambda n: 100_000)
    return [vhdr], {}, "test.eeg", ["truncated", "not a whole number of samples", "64 bytes"]


def truncated_vhdr_whole_samples(d: Path):
    # cut at a sample boundary: only the markers after the end tell (MNE drops them)
    vhdr = _real_brainvision(d, lambda n: 64 * 1500)
    return [vhdr], {}, "test.eeg", ["truncated", "1500 samples", "test.vmrk"]


def duplicate_names_locs(d: Path):
    # row 4 of the tutorial's test_chans.locs renamed as row 3 (F3): MNE's montage keeps one
    for part in ("test_raw.set", "test_raw.fdt"):
        shutil.copy(_real(f"eeglab/{part}"), d / part)
    rows = _real("eeglab/test_chans.locs").read_text().splitlines()
    rows[3] = rows[3].rsplit(None, 1)[0] + "\tF3"
    (d / "test_chans.locs").write_text("\n".join(rows) + "\n")
    return [d / "test_raw.set"], {}, "test_chans.locs", ["duplicate channel name", "'F3'",
                                                         "rows 3 and 4"]


def truncated_egi(d: Path):
    data = _real("test_egi.raw").read_bytes()  # 77 samples of 256 channels + 6 events
    (d / "cut.raw").write_bytes(data[:50_000])
    return [d / "cut.raw"], {}, "cut.raw", ["truncated EGI", "77 samples"]


def truncated_real_fif_in_its_header(d: Path):
    # cut inside the measurement info: MNE said only "Could not find measurement info"
    data = _real("test_bin_raw.fif").read_bytes()
    (d / "cut_raw.fif").write_bytes(data[:200_000])
    return [d / "cut_raw.fif"], {}, "cut_raw.fif", ["truncated FIF", "has 200000 bytes"]


def nonmonotonic_nwb(d: Path):
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries

    nwb = NWBFile(session_description="broken clock", identifier="bad-timestamps",
                  session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    device = nwb.create_device(name="amp")
    group = nwb.create_electrode_group(name="g", description="g", location="brain",
                                       device=device)
    for _ in range(3):
        nwb.add_electrode(group=group, location="brain")
    timestamps = np.arange(50) / 100.0
    timestamps[30] = timestamps[28]  # the clock steps back
    nwb.add_acquisition(ElectricalSeries(
        name="es", data=np.zeros((50, 3)), timestamps=timestamps,
        electrodes=nwb.create_electrode_table_region([0, 1, 2], "all")))
    with NWBHDF5IO(str(d / "clock.nwb"), "w") as io:
        io.write(nwb)
    return [d / "clock.nwb"], {}, "clock.nwb", ["not strictly increasing", "sample 30"]


CASES = [truncated_edf, lying_edf_header, zero_length, edf_named_vhdr, text_named_fif,
         truncated_fif, truncated_nii, truncated_nii_gz, nan_in_csv, inf_in_csv, nan_in_fif,
         duplicate_names_csv, duplicate_names_vhdr, vhdr_without_eeg, nonmonotonic_nwb,
         truncated_vhdr_mid_sample, truncated_vhdr_whole_samples, duplicate_names_locs,
         truncated_egi, truncated_real_fif_in_its_header]


def _check_message(msg: str, name: str, words) -> None:
    assert "\n" not in msg.strip(), msg
    assert name in msg, msg
    for w in words:
        assert w in msg, msg


def _check_nothing_left(out: Path) -> None:
    left = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    assert not [n for n in left if n in ("raw.zarr", "raw.nwb") or n.endswith(".partial")], left


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_bad_input_fails_in_process_with_one_line(tmp_path, case):
    inputs, options, name, words = case(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(InputError) as info:
        run_ingest(inputs, out, **options)
    _check_message(str(info.value), name, words)
    _check_nothing_left(out)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Every case through the real CLI, two processes at a time."""
    built = {}
    for case in CASES:
        d = tmp_path_factory.mktemp(case.__name__)
        try:
            built[case.__name__] = (d, *case(d))
        except pytest.skip.Exception as e:
            built[case.__name__] = e

    def run(item):
        d, inputs, options, *_ = item
        cmd = [str(NEURODAG), "ingest", *map(str, inputs), "--out", str(d / "out")]
        for key, value in options.items():
            if key == "modality":
                cmd += ["--modality", value]
            else:
                cmd += ["--set", f"{key}={str(value).lower()}"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    todo = {k: v for k, v in built.items() if not isinstance(v, BaseException)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(todo, pool.map(run, todo.values()), strict=True))
    return built, done


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_bad_input_through_the_cli_exits_2_with_one_line_and_no_output(cli_runs, case):
    built, done = cli_runs
    item = built[case.__name__]
    if isinstance(item, BaseException):
        pytest.skip(str(item))
    d, _, _, name, words = item
    proc = done[case.__name__]
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("neurodag ingest: error: ")
    _check_message(lines[0], name, words)
    assert proc.stdout == ""
    _check_nothing_left(d / "out")
