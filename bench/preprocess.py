"""Preprocessing memory and time against MNE by hand, over recording lengths.

Run by hand (not a test; it writes a few GB and takes tens of minutes)::

    .venv/bin/python bench/preprocess.py                          # 10, 30, 60 min
    .venv/bin/python bench/preprocess.py --minutes 10 --skip-mne  # quicker

For each length it generates 64-channel, 1 kHz synthetic EEG (``neurodag.synth`` EEG:
dipoles in a spherical head with alpha bursts and background activity, strong blinks,
saccades, muscle bursts, heartbeat and mains; two-minute sessions of one subject laid
end to end, so the mixing is the same throughout) into a contract zarr store, then runs
each case in its own process and reads that process's peak resident memory from
``os.wait4``:

- ``neurodag``: ``neurodag preprocess raw.zarr --out DIR`` (the default EEG options:
  notch, 1-40 Hz, bad channels, average reference, 20-component FastICA fitted on the
  decimated, capped subset, ICLabel, targeted removal; zarr output);
- ``MNE by hand``: the recording read into memory, ``raw.notch_filter``,
  ``raw.filter(1, 40)``, ``set_eeg_reference("average")``, ``ICA(20, "fastica").fit``
  on the filtered recording, the EOG components removed by ``ica.apply``, saved as FIF.

It prints wall time and peak RSS per case and length, their ratios, the straight-line fit
of each against length, the memory the preprocess rule would ask Slurm for
(:func:`neurodag.resources.preprocess`), and the blink-removal quality: the correlation of
the cleaned frontal channels with the true brain signal (filtered the same way). Goals
(issue 21): peak RSS <= 1.5 GB at every length, the 60-minute peak within 20 % of the
10-minute one, <= 5 min for 60 minutes on 2 cores, frontal correlation >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ingest import run_measured  # noqa: E402

VENV_BIN = Path(sys.executable).parent
EEG_64 = ("Fp1 Fpz Fp2 AF7 AF3 AFz AF4 AF8 F7 F5 F3 F1 Fz F2 F4 F6 F8 FT7 FC5 FC3 FC1 FCz "
          "FC2 FC4 FC6 FT8 T7 C5 C3 C1 Cz C2 C4 C6 T8 TP7 CP5 CP3 CP1 CPz CP2 CP4 CP6 TP8 P7 "
          "P5 P3 P1 Pz P2 P4 P6 P8 PO7 PO3 POz PO4 PO8 O1 Oz O2 Iz TP9 TP10").split()
#: Strong blinks and muscle (those of the preprocessing tests).
DIRTY = {"blink_amplitude": 300e-6, "muscle_amplitude": 150e-6, "muscle_rate": 0.2}
PIECE_S = 120.0
EDGE_S = 4.0   # left out of the quality measure at each piece's ends (the pieces' joins)

GENERATE = r"""
import json, sys
import numpy as np
from neurodag import schema, synth
from neurodag.store import SignalWriter, lazy_zeros

out, minutes, sfreq, seed, piece_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5])
channels, dirty = json.loads(sys.argv[6]), json.loads(sys.argv[7])
n_pieces = int(round(minutes * 60 / piece_s))
n_piece = int(round(piece_s * sfreq))
writers = None
for k in range(n_pieces):
    sim = synth.generate("eeg", seed=seed, subject="01", session=f"{k:03d}", duration=piece_s,
                         sfreq=sfreq, channels=channels, **dirty)
    d = sim.data
    eeg = [c for c, t in zip(d["channel"].values, d["channel_type"].values) if t == "eeg"]
    truth = (sim.truth["brain"] + sim.truth["noise"]).sel(channel=eeg)
    if writers is None:
        n = n_pieces * n_piece
        def template(ds, names):
            sub = ds.sel(channel=names)
            t = schema.build(lazy_zeros(n, len(names), np.float32), sfreq=sfreq,
                             channels=names, channel_types=sub["channel_type"].values,
                             modality="eeg", subject="01", session="bench",
                             units=sub["unit"].values,
                             positions=np.stack([sub[k].values for k in "xyz"], axis=1))
            t.attrs.update(line_freq=d.attrs["line_freq"], source="bench")
            return t
        names = [str(c) for c in d["channel"].values]
        writers = (SignalWriter(template(d, names), out + "/raw.zarr"),
                   SignalWriter(template(d, eeg), out + "/truth.zarr"))
    writers[0].write(d["signal"].values.astype(np.float32))
    writers[1].write(truth.transpose("time", "channel").values.astype(np.float32))
for w in writers:
    w.close()
"""

MNE_BY_HAND = r"""
import sys
import mne
import numpy as np
from neurodag import store

src, out = sys.argv[1], sys.argv[2]
ds = store.read_signal(src)
types = [str(t) for t in ds["channel_type"].values]
info = mne.create_info([str(c) for c in ds["channel"].values], float(ds.attrs["sfreq"]), types)
raw = mne.io.RawArray(np.asarray(ds["signal"].values, dtype=np.float64).T, info,
                      verbose="error")
sfreq = raw.info["sfreq"]
line = float(ds.attrs["line_freq"])
raw.notch_filter(np.arange(line, sfreq / 2 - 1, line), picks=["eeg", "eog", "ecg"],
                 trans_bandwidth=2.0, verbose="error")
raw.filter(1.0, 40.0, picks=["eeg", "eog", "ecg"], verbose="error")
raw.set_eeg_reference("average", verbose="error")
ica = mne.preprocessing.ICA(n_components=20, method="fastica", random_state=97, max_iter=500,
                            verbose="error")
ica.fit(raw, picks="eeg", verbose="error")
ica.exclude = ica.find_bads_eog(raw, verbose="error")[0]
ica.apply(raw, verbose="error")
raw.save(out, overwrite=True, verbose="error")
"""

QUALITY = r"""
import json, sys
import mne
import numpy as np
from neurodag import store
from neurodag.preprocess import ephys

work, piece_s, edge_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
raw, clean = store.read_signal(work + "/raw.zarr"), store.read_signal(work + "/out/clean.zarr")
truth = store.read_signal(work + "/truth.zarr")
sfreq, line = float(raw.attrs["sfreq"]), float(raw.attrs["line_freq"])
eeg = [str(c) for c in truth["channel"].values]
n_piece, edge = int(piece_s * sfreq), int(edge_s * sfreq)
sums = {}

def filtered(x):
    y = mne.filter.notch_filter(np.ascontiguousarray(x.T, dtype=np.float64), sfreq,
                                ephys.harmonics(line, sfreq),
                                trans_bandwidth=ephys.NOTCH_TRANSITION, verbose="error")
    y = mne.filter.filter_data(y, sfreq, 1.0, 40.0, verbose="error").T
    return y - y.mean(axis=1, keepdims=True)

def acc(key, a, b):
    s = sums.setdefault(key, np.zeros((5, a.shape[1])))
    s += [a.sum(0), b.sum(0), (a * a).sum(0), (b * b).sum(0), (a * b).sum(0)]

for start in range(0, raw.sizes["time"], n_piece):
    sl = slice(start, start + n_piece)
    free = filtered(truth["signal"].isel(time=sl).values)[edge:-edge]
    dirty = filtered(raw["signal"].isel(time=sl).sel(channel=eeg).values)[edge:-edge]
    cl = clean["signal"].isel(time=sl).sel(channel=eeg).values[edge:-edge]
    acc("raw", dirty, free)
    acc("clean", cl, free)

out = {}
n = (raw.sizes["time"] // n_piece) * (n_piece - 2 * edge)
for key, s in sums.items():
    sa, sb, saa, sbb, sab = s
    cov = sab - sa * sb / n
    out[key] = (cov / np.sqrt((saa - sa ** 2 / n) * (sbb - sb ** 2 / n))).tolist()
print(json.dumps({"channels": eeg, **out}))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[10.0, 30.0, 60.0])
    p.add_argument("--sfreq", type=float, default=1000.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=None,
                   help="where to write (default: a temporary folder, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the generated recordings")
    p.add_argument("--skip-mne", action="store_true", help="do not run MNE by hand")
    p.add_argument("--skip-ours", action="store_true",
                   help="run MNE by hand only (its own numbers; no neurodag run)")
    p.add_argument("--mne-minutes", type=float, nargs="*", default=None,
                   help="run MNE by hand only at these lengths (default: all)")
    args = p.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

    import json

    from neurodag import resources

    base = args.workdir or Path(tempfile.mkdtemp(prefix="neurodag-bench-preprocess-"))
    base.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for minutes in args.minutes:
            work = base / f"{minutes:g}min"
            if not (work / "raw.zarr").exists():
                work.mkdir(parents=True, exist_ok=True)
                gen = [sys.executable, "-c", GENERATE, str(work), str(minutes),
                       str(args.sfreq), str(args.seed), str(PIECE_S), json.dumps(EEG_64),
                       json.dumps(DIRTY)]
                wall, _, rc = run_measured(gen, env=env)
                if rc:
                    return rc
                print(f"{minutes:g} min: generated in {wall:.0f} s", flush=True)
            shutil.rmtree(work / "out", ignore_errors=True)
            est = resources.preprocess(work / "raw.zarr")
            if args.skip_ours:
                used = []
                mne_run = run_measured([sys.executable, "-c", MNE_BY_HAND,
                                        str(work / "raw.zarr"), str(work / "mne_raw.fif")],
                                       env=env, usage=used)
                (work / "mne_raw.fif").unlink(missing_ok=True)
                print(f"{minutes:g} min: MNE by hand {mne_run[0]:.0f} s ({_cpu(used):.0f} s "
                      f"CPU), {mne_run[1]:.0f} MB", flush=True)
                continue
            used = []
            ours = run_measured([str(VENV_BIN / "neurodag"), "preprocess",
                                 str(work / "raw.zarr"), "--out", str(work / "out")], env=env,
                                usage=used)
            if ours[2]:
                return ours[2]
            ours = (*ours, _cpu(used))
            print(f"{minutes:g} min: neurodag {ours[0]:.0f} s ({ours[3]:.0f} s CPU), "
                  f"{ours[1]:.0f} MB "
                  f"(asks for {est['mem_mb']} MB, {est['runtime']} min)", flush=True)
            q = json.loads(subprocess.run(
                [sys.executable, "-c", QUALITY, str(work), str(PIECE_S), str(EDGE_S)],
                check=True, capture_output=True, text=True, env=env).stdout)
            mne_run = (np.nan, np.nan, 0, np.nan)
            if not args.skip_mne and (args.mne_minutes is None or minutes in args.mne_minutes):
                used = []
                mne_run = run_measured([sys.executable, "-c", MNE_BY_HAND,
                                        str(work / "raw.zarr"), str(work / "mne_raw.fif")],
                                       env=env, usage=used)
                mne_run = (*mne_run, _cpu(used))
                (work / "mne_raw.fif").unlink(missing_ok=True)
                print(f"{minutes:g} min: MNE by hand {mne_run[0]:.0f} s ({mne_run[3]:.0f} s "
                      f"CPU), {mne_run[1]:.0f} MB", flush=True)
            rows.append((minutes, ours, mne_run, est, q))
            shutil.rmtree(work / "out", ignore_errors=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    if rows:
        _report(rows)
    return 0


def _cpu(used) -> float:
    return used[0].ru_utime + used[0].ru_stime if used else np.nan


def _report(rows) -> None:
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (1 min), "
          f"{os.getloadavg()[1]:.2f} (5 min); {os.cpu_count()} cores")
    print(f"\n{'min':>4} {'neurodag s':>11} {'CPU s':>6} {'MB':>7} {'MNE s':>8} {'CPU s':>6} "
          f"{'MB':>7} "
          f"{'time ratio':>11} {'RSS ratio':>10} {'asks MB':>8} {'asks/uses':>10} "
          f"{'Fp1 raw->clean':>15} {'Fp2':>12} {'worst':>6}")
    for minutes, ours, mne_run, est, q in rows:
        ch = q["channels"]
        r_raw, r_clean = np.array(q["raw"]), np.array(q["clean"])
        low = r_raw < 0.7
        worst = r_clean[low].min() if low.any() else r_clean.min()
        fp = {n: f"{r_raw[ch.index(n)]:.2f}->{r_clean[ch.index(n)]:.2f}" for n in ("Fp1", "Fp2")}
        print(f"{minutes:>4g} {ours[0]:>11.1f} {ours[3]:>6.0f} {ours[1]:>7.0f} "
              f"{mne_run[0]:>8.1f} {mne_run[3]:>6.0f} {mne_run[1]:>7.0f} "
              f"{mne_run[0] / ours[0]:>11.2f} {mne_run[1] / ours[1]:>10.2f} "
              f"{est['mem_mb']:>8} {est['mem_mb'] / ours[1]:>10.2f} {fp['Fp1']:>15} "
              f"{fp['Fp2']:>12} {worst:>6.3f}")
    m = np.array([r[0] for r in rows])
    if len(m) > 1:
        print("\nstraight lines (a + b x minutes):")
        for name, k, col in (("neurodag", 1, 0), ("neurodag", 1, 3), ("neurodag", 1, 1),
                             ("MNE", 2, 0), ("MNE", 2, 3), ("MNE", 2, 1)):
            y = np.array([r[k][col] for r in rows], dtype=float)
            if np.isfinite(y).all():
                b, a = np.polyfit(m, y, 1)
                unit = "MB" if col == 1 else "s"
                what = {0: "wall", 3: "CPU", 1: "peak RSS"}[col]
                print(f"  {name:<9} {what:<9} "
                      f"{a:8.1f} {unit} + {b:7.2f} {unit}/min")
    ours_rss = [r[1][1] for r in rows]
    ok_rss = max(ours_rss) <= 1536
    flat = ours_rss[-1] <= 1.2 * ours_rss[0]
    sixty = [r[1] for r in rows if r[0] == 60]
    print(f"\ngoals: peak RSS <= 1.5 GB at every length -> {'met' if ok_rss else 'MISSED'}; "
          f"longest within 20 % of shortest -> {'met' if flat else 'MISSED'}"
          + (f"; 60 min in <= 300 s -> wall {sixty[0][0]:.0f} s "
             f"({'met' if sixty[0][0] <= 300 else 'MISSED'}), CPU {sixty[0][3]:.0f} s "
             f"({'met' if sixty[0][3] <= 300 else 'MISSED'})" if sixty else ""))


if __name__ == "__main__":
    sys.exit(main())
