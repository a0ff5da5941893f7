"""Ingest memory and time against the floor, on a long synthetic recording.

Run by hand (not a test; it writes a few GB and takes minutes)::

    .venv/bin/python bench/ingest.py                      # 1 h, 64 channels, 1 kHz
    .venv/bin/python bench/ingest.py --minutes 10 --keep  # shorter; keep the files

It writes a FIF recording in blocks (never holding it whole), then runs each case in
its own process and reads that process's peak resident memory from ``os.wait4``:

- ``floor``: ``mne.io.read_raw(...).get_data()`` then ``np.save`` (what any reader must pay
  to turn the file into an array on disk);
- ``ingest``: ``neurodag ingest FILE --out DIR`` (zarr + NWB + nwbinspector).

It prints wall time, peak RSS and the ratio of each case to the floor. The goal is an
ingest peak RSS under 1 GB and a wall time within 2x of the floor. ``--what-if lzf none``
adds runs whose NWB series use another HDF5 filter, and ``--phases`` times the steps of
ingest one by one, to show where the time goes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent

GENERATE = r"""
import sys
from pathlib import Path

import mne
import numpy as np

out, minutes, n_ch, sfreq, seed = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4]), int(sys.argv[5])
n_total = int(round(minutes * 60 * sfreq))
block = int(120 * sfreq)  # two minutes per piece: 64 ch x 120 000 x 8 B = 61 MB
rng = np.random.default_rng(seed)
names = [f"EEG{i:03d}" for i in range(n_ch)]
info = mne.create_info(names, sfreq, "eeg")
freqs = rng.uniform(2.0, 40.0, n_ch)[:, None]
pieces = []
for k, start in enumerate(range(0, n_total, block)):
    n = min(block, n_total - start)
    t = (start + np.arange(n)) / sfreq
    x = 20e-6 * np.sin(2 * np.pi * freqs * t) + rng.normal(0.0, 5e-6, (n_ch, n))
    piece = out.with_name(f".piece{k:04d}_raw.fif")
    mne.io.RawArray(x, info, verbose="error").save(piece, fmt="single", overwrite=True,
                                                   verbose="error")
    pieces.append(piece)
    del x
# Concatenating unloaded pieces and saving streams them buffer by buffer.
raws = [mne.io.read_raw_fif(p, preload=False, verbose="error") for p in pieces]
raw = mne.concatenate_raws(raws, verbose="error")
raw.save(out, fmt="single", overwrite=True, split_size="2GB", verbose="error")
for p in pieces:
    p.unlink()
"""

#: ``neurodag ingest`` with the NWB series written with another HDF5 filter: a what-if for
#: the store's choice (gzip level 4 + shuffle), not a change to it.
INGEST_WITH = r"""
import sys

from hdmf.backends.hdf5 import H5DataIO

import neurodag.store.nwb as nwb

choice = sys.argv[1]


def _streamed(array, *, where, names=None, check_finite=True):
    it = nwb._TimeBlocks(array, where=where, names=names, check_finite=check_finite)
    if choice == "none":
        return H5DataIO(it)
    if choice == "lzf":
        return H5DataIO(it, compression="lzf", shuffle=True)
    return H5DataIO(it, compression="gzip", compression_opts=int(choice[4:]), shuffle=True)


nwb._streamed = _streamed
from neurodag.cli import main  # noqa: E402

sys.exit(main(sys.argv[2:]))
"""

#: The steps of ``neurodag.ingest.run`` timed one by one, in one process.
PHASES = r"""
import shutil
import sys
import time
from pathlib import Path

from neurodag import io, provenance, store
from neurodag.ingest import nwb_problems

src, out = sys.argv[1], Path(sys.argv[2])
shutil.rmtree(out, ignore_errors=True)
out.mkdir(parents=True)
t = [time.perf_counter()]
ds = io.read(src)
provenance.stamp(ds, ds.attrs.pop("source_files"), source=src)
t.append(time.perf_counter())
store.write_signal(ds, out / "raw.zarr")
t.append(time.perf_counter())
store.write_nwb(store.read_signal(out / "raw.zarr"), out / "raw.nwb")
t.append(time.perf_counter())
problems = nwb_problems(out / "raw.nwb", ds)
t.append(time.perf_counter())
names = ["open + hash inputs", "read -> zarr (NaN check)", "zarr -> NWB (gzip 4)",
         "nwbinspector"]
for name, a, b in zip(names, t, t[1:]):
    print(f"  phase {name:<28} {b - a:7.1f} s")
print(f"  nwbinspector problems: {problems}")
"""

FLOOR = r"""
import sys
import mne
import numpy as np

raw = mne.io.read_raw(sys.argv[1], verbose="error")
np.save(sys.argv[2], raw.get_data())
"""


def run_measured(cmd: list[str], *, env=None, usage: list | None = None
                 ) -> tuple[float, float, int]:
    """Run ``cmd``; return (wall s, peak RSS in MB of the process and its children, exit code).

    ``usage``, a list, receives the process's ``resource.struct_rusage`` (CPU times).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage_ = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if usage is not None:
        usage.append(usage_)
    if proc.returncode != 0:
        print(f"  {cmd[0]} failed ({proc.returncode}): {err[-2000:]}", file=sys.stderr)
    # ru_maxrss is in kB on Linux.
    return wall, usage_.ru_maxrss / 1024.0, proc.returncode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--sfreq", type=float, default=1000.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=None,
                   help="where to write (default: a temporary folder, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument("--skip-floor", action="store_true")
    p.add_argument("--what-if", nargs="*", default=[], metavar="FILTER",
                   choices=["gzip1", "lzf", "none"],
                   help="also time ingest with the NWB series written with this HDF5 filter "
                        "instead of the store's gzip 4 (a what-if, nothing is changed)")
    p.add_argument("--phases", action="store_true",
                   help="also time the steps of ingest one by one (one more run)")
    args = p.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="neurodag-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    fif = work / f"bench_{args.minutes:g}min_{args.channels}ch_{args.sfreq:g}Hz_raw.fif"
    rows = []
    try:
        if not fif.exists():
            wall, rss, rc = run_measured([sys.executable, "-c", GENERATE, str(fif),
                                          str(args.minutes), str(args.channels),
                                          str(args.sfreq), str(args.seed)])
            if rc:
                return rc
            rows.append(("generate (FIF in blocks)", wall, rss))
        size_mb = sum(f.stat().st_size for f in work.glob(fif.stem + "*.fif")) / 2**20
        print(f"recording: {fif} ({size_mb:.0f} MB, {args.minutes:g} min, "
              f"{args.channels} ch, {args.sfreq:g} Hz)")
        floor = None
        if not args.skip_floor:
            npy = work / "floor.npy"
            wall, rss, rc = run_measured([sys.executable, "-c", FLOOR, str(fif), str(npy)])
            npy.unlink(missing_ok=True)
            if rc:
                return rc
            floor = (wall, rss)
            rows.append(("floor: read_raw().get_data() + np.save", wall, rss))
        out = work / "ingest"
        shutil.rmtree(out, ignore_errors=True)
        wall, rss, rc = run_measured([str(VENV_BIN / "neurodag"), "ingest", str(fif),
                                      "--out", str(out)])
        if rc:
            return rc
        rows.append(("neurodag ingest (zarr + NWB + inspector)", wall, rss))
        sizes = {k: _size(out / f"raw.{k}") / 2**20 for k in ("zarr", "nwb")}
        print(f"outputs: raw.zarr {sizes['zarr']:.0f} MB, raw.nwb {sizes['nwb']:.0f} MB")
        for choice in args.what_if:
            shutil.rmtree(out, ignore_errors=True)
            wall, rss, rc = run_measured([sys.executable, "-c", INGEST_WITH, choice, "ingest",
                                          str(fif), "--out", str(out)])
            if rc:
                return rc
            mb = _size(out / "raw.nwb") / 2**20
            rows.append((f"what-if: ingest, NWB {choice} ({mb:.0f} MB)", wall, rss))
        if args.phases:
            subprocess.run([sys.executable, "-c", PHASES, str(fif), str(work / "phases")],
                           check=True)
            shutil.rmtree(work / "phases", ignore_errors=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'case':<44} {'wall s':>8} {'peak RSS MB':>12} {'time/floor':>11} "
          f"{'RSS/floor':>10}")
    for name, wall, rss in rows:
        rt = f"{wall / floor[0]:.2f}" if floor and not name.startswith("generate") else ""
        rr = f"{rss / floor[1]:.2f}" if floor and not name.startswith("generate") else ""
        print(f"{name:<44} {wall:>8.1f} {rss:>12.0f} {rt:>11} {rr:>10}")
    ingest = next(r for r in rows if r[0].startswith("neurodag ingest"))
    print(f"\ngoal: peak RSS < 1024 MB -> {'met' if ingest[2] < 1024 else 'MISSED'}"
          + (f"; time <= 2x floor -> {'met' if ingest[1] <= 2 * floor[0] else 'MISSED'}"
             if floor else ""))
    return 0


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.exists() else 0


if __name__ == "__main__":
    sys.exit(main())
