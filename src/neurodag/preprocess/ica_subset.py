"""What ICA is fitted on: a decimated, 1-100 Hz copy of at most ``ica.max_samples`` samples.

MNE's ICA documentation asks for a 1 Hz high-pass before fitting ("ICA is sensitive to
low-frequency drifts"), and ``ICA.fit(decim=...)`` or a resampled copy to fit on fewer
samples; MNE-BIDS-Pipeline fits on a copy high-passed at ``ica_l_freq`` (1 Hz, the
lowest it allows), low-passed at 100 Hz when ICLabel labels the components, decimated by
``ica_decim`` and iterated at most ``ica_max_iterations`` (500) times. Here:

- band: 1-100 Hz (ICLabel's and MEGnet's training band; 100 Hz capped below Nyquist);
- rate: ``ica.decim`` (default: the smallest factor that brings the recording within
  ``ica.max_samples``, at most the largest that keeps the band free of aliasing, i.e. a
  fit rate of at least twice the filter's stop edge, 125 Hz: 250 Hz from 1 kHz, 256 Hz
  from 512 Hz; a short recording keeps all its samples); MEG goes to 250 Hz (MEGnet), by
  decimation when the rate is a multiple of it, otherwise by resampling each piece;
- length: blocks of the recording, evenly spread over it, up to ``ica.max_samples``
  samples at the fit rate (a block longer than that gives its first part) (default 150 000: 10 minutes at 250 Hz, over 300 samples per
  squared component for 20 components, far above the 20-30 x n^2 rule of thumb). A
  recording that fits is used whole.
"""

from __future__ import annotations

import mne
import numpy as np

from . import blocks, ephys
from .ica import MEGNET_SFREQ


def fit_rate(sfreq: float, modality: str, decim: int | None, n_times: int,
             max_samples: int) -> tuple[int, float | None]:
    """``(decim, resample_to)``: the decimation factor, or a rate to resample to (MEG).

    By default EEG/sEEG/ECoG are decimated only as far as needed to fit ``max_samples``
    (a short recording keeps every sample) and never below the rate that keeps the fit
    band free of aliasing.
    """
    if modality == "meg" and abs(sfreq - MEGNET_SFREQ) > 0.1:
        ratio = sfreq / MEGNET_SFREQ
        if abs(ratio - round(ratio)) < 1e-6:
            return int(round(ratio)), None
        return 1, MEGNET_SFREQ
    if decim is not None:
        return int(decim), None
    high = fit_high(sfreq)
    if high is None:
        return 1, None
    stop = high + min(max(0.25 * high, 2.0), sfreq / 2.0 - high)   # MNE's 'auto' transition
    most = max(1, int(np.floor(sfreq / (2.0 * stop) + 1e-9)))
    return min(most, max(1, int(np.ceil(n_times / max_samples)))), None


def fit_high(sfreq: float) -> float | None:
    """The low-pass edge of the fit band (None when 100 Hz is within 1 Hz of Nyquist)."""
    return ephys.ICA_BAND[1] if ephys.ICA_BAND[1] < sfreq / 2 - 1 else None


class Subset:
    """Collects the fit data while the first pass goes over the blocks.

    Parameters
    ----------
    ds : xarray.Dataset
        The recording (for its events).
    info : mne.Info
        Of all the recording's channels.
    block_spans : list of (int, int)
        The blocks of the pass.
    decim, resample_to
        From :func:`fit_rate`.
    max_samples : int
        Cap on the fit samples (at the fit rate).
    """

    def __init__(self, ds, info, block_spans, decim: int, resample_to: float | None,
                 max_samples: int):
        self.ds, self.info, self.decim, self.resample_to = ds, info, decim, resample_to
        sfreq = info["sfreq"]
        self.fir = blocks.Fir(ephys.design(sfreq, ephys.ICA_BAND[0], fit_high(sfreq)))
        self.rate = resample_to or sfreq / decim
        per_block = max(1, int(np.ceil((block_spans[0][1] - block_spans[0][0])
                                       * self.rate / sfreq)))
        n_blocks = len(block_spans)
        total = int(np.ceil(block_spans[-1][1] * self.rate / sfreq))
        k = n_blocks if total <= max_samples else max(1, int(max_samples // per_block))
        chosen = range(n_blocks) if k >= n_blocks else \
            np.unique(np.round(np.linspace(0, n_blocks - 1, k)).astype(int))
        self.chosen = set(int(i) for i in chosen)
        # fit samples per piece (all of them when the whole recording fits)
        self.budget = int(max_samples if total <= max_samples else
                          max_samples // len(self.chosen))
        self.pieces: list[tuple[int, int]] = []
        self.data: list[np.ndarray] = []

    def add(self, x: np.ndarray, lo: int, hi: int, chunk: blocks.Chunk, rows) -> None:
        """Take block ``chunk.start:chunk.stop`` from notched samples ``x`` (``lo:hi``)."""
        y, lo, _ = self.fir.apply(x, lo, hi, chunk.n_times, rows)
        y = y[:, chunk.start - lo:chunk.stop - lo]
        if self.resample_to is not None:
            y = mne.filter.resample(y, up=self.resample_to, down=self.info["sfreq"],
                                    npad="auto", verbose="error")
        else:
            y = y[:, (-chunk.start) % self.decim::self.decim]
        y = y[:, :self.budget]   # a block longer than the cap gives its first part
        stop = min(chunk.stop, chunk.start + int(np.ceil(y.shape[1] * self.info["sfreq"]
                                                          / self.rate)))
        self.pieces.append((chunk.start, stop))
        self.data.append(np.ascontiguousarray(y))

    def raw(self) -> mne.io.RawArray:
        """The fit recording: the pieces end to end, with the events that fall in them."""
        data = np.concatenate(self.data, axis=1) if len(self.data) > 1 else self.data[0]
        self.data = []
        info = self.info.copy()
        high = fit_high(self.info["sfreq"])
        # A decimated copy has the same channels at another rate; Info has no public
        # setter for the rate and the filter band.
        with info._unlock():
            info["sfreq"] = float(self.rate)
            info["highpass"] = ephys.ICA_BAND[0]
            info["lowpass"] = float(min(high or self.rate / 2, self.rate / 2))
        merged = _merged(self.pieces)
        return ephys.raw_of(info, data, ephys.annotations_of(self.ds, merged,
                                                            self.info["sfreq"]))


def _merged(pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent sample ranges joined."""
    out: list[list[int]] = []
    for a, b in pieces:
        if out and out[-1][1] == a:
            out[-1][1] = b
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]
