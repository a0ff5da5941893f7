"""fMRI preprocessing with censoring against its floor, nilearn's ``signal.clean`` alone.

Run by hand (not a test; a minute or two on 2 cores)::

    .venv/bin/python bench/fmri_clean.py [--cache resources/reference]

On the brainspace resting run (20,484 vertices x 652 frames), times

- the floor: ``nilearn.signal.clean`` with the same confounds and sample mask, nothing else;
- ``neurodag.preprocess.run(confounds="all")``: confound selection, FD, standardised DVARS,
  the same ``signal.clean`` call, the clean store with its interpolated censored volumes, QC;
- the connectivity step's work on the result (parcel means, ConnectivityMeasure, QC-FC).

It prints seconds (process CPU time, so that other jobs on the machine count less) and the
ratio to the floor. One BLAS thread, as the preprocess step runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from neurodag import preprocess, reference, store
from neurodag.connectivity import step
from neurodag.preprocess import fmri_confounds


def _measure(fn):
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("resources/reference"))
    args = parser.parse_args()
    reference.fetch("brainspace", args.cache)
    ds = reference.read("brainspace", "rest_fsa5", args.cache).load()
    opts = preprocess.check_options("fmri", {"confounds": "all"})
    x = np.asarray(ds["signal"].values, dtype=np.float64)
    sel, _ = fmri_confounds.select(ds, x, opts, "brainspace")
    conf = sel.regressors.to_numpy()
    mask = np.flatnonzero(sel.kept)

    def floor():
        from nilearn import signal as nsignal

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nsignal.clean(x, confounds=conf, sample_mask=mask, detrend=True,
                                 standardize="zscore_sample", low_pass=0.1, high_pass=0.01,
                                 t_r=1.0, filter="butterworth", standardize_confounds=True)

    with threadpool_limits(1):
        _, t_floor = _measure(floor)
        (clean, _), t_ours = _measure(lambda: preprocess.run(ds, confounds="all"))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "bs" / "rest_fsa5"
            store.write_signal(clean, folder / "clean.zarr")
            _, t_conn = _measure(lambda: step.run([folder / "clean.zarr"]))
    print(f"{'':28s}{'CPU s':>8s}{'x floor':>9s}")
    print(f"{'nilearn signal.clean (floor)':28s}{t_floor:8.1f}{1.0:9.2f}")
    print(f"{'neurodag preprocess':28s}{t_ours:8.1f}{t_ours / t_floor:9.2f}")
    print(f"{'connectivity + QC-FC':28s}{t_conn:8.1f}{t_conn / t_floor:9.2f}")


if __name__ == "__main__":
    main()
