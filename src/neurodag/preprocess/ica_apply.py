"""Removing ICA components block by block: MNE's ``ica.apply`` (``ica.mode: full``) or the
gated subtraction of :func:`neurodag.preprocess.ica.gate` (``targeted``).

Both are the same on a block as on the whole recording: the sources are linear in the
samples, and the gate of a sample depends on the envelope within
:func:`~neurodag.preprocess.ica.gate_margin` of it and on the envelope's median and MAD
over the whole recording. Those two are found exactly, in a pass before the removal that
writes each removed component's envelope to a temporary file (8 bytes per sample and
component, on disk) and selects its order statistics from there
(:func:`~neurodag.preprocess.streamstats.median`).
"""

from __future__ import annotations

import tempfile

import mne
import numpy as np

from . import streamstats
from .ica import envelope, gate_margin, gate_of

#: Values read at a time from an envelope file.
READ_VALUES = 1 << 20


class Remover:
    """Remove the excluded components of ``ica`` from blocks of the output.

    Parameters
    ----------
    ica : mne.preprocessing.ICA
        Fitted, with ``exclude`` set.
    comps : list of dict
        The components' qc entries (``active_fraction`` is added to the removed ones).
    opts : dict
        The ``ica`` options (``mode``, ``gate_z``).
    ch_names : list of str
        Channels of the blocks.
    data_names : list of str
        Data channels whose variance before and after is reported.
    types : list of str
        Their channel types.
    sfreq : float
    """

    def __init__(self, ica, comps, opts, ch_names, data_names, types, sfreq):
        self.ica, self.comps, self.sfreq, self.z = ica, comps, sfreq, opts["gate_z"]
        self.exclude = list(ica.exclude)
        self.full = opts["mode"] == "full" or not self.exclude
        self.targeted = not self.full
        self.data_picks = np.array([ch_names.index(n) for n in data_names], dtype=int)
        self.types = list(types)
        self.margin = gate_margin(sfreq) if self.targeted else 0
        row = {n: i for i, n in enumerate(ica.ch_names)}
        inside = [n for n in data_names if n in row]
        self.target = np.array([ch_names.index(n) for n in inside], dtype=int)
        mixing = ica.pre_whitener_[:, :1] * ica.get_components()   # (ica channels, comps)
        self.mixing = mixing[[row[n] for n in inside]][:, self.exclude]
        self.before = streamstats.Moments(len(self.data_picks))
        self.after = streamstats.Moments(len(self.data_picks))
        self.gate_sum = np.zeros(len(self.exclude))
        self.files = [tempfile.TemporaryFile() for _ in self.exclude] if self.targeted else []
        self.env_lo = np.full(len(self.exclude), np.inf)
        self.env_hi = np.full(len(self.exclude), -np.inf)
        self.env_moments = streamstats.Moments(len(self.exclude))
        self.med = self.scale = None

    def _sources(self, raw) -> np.ndarray:
        return self.ica.get_sources(raw).get_data()[self.exclude]

    def add_envelopes(self, raw: mne.io.BaseRaw, inner: slice) -> None:
        """Pass before the removal: keep the removed components' envelopes over ``inner``."""
        env = envelope(self._sources(raw), self.sfreq)[:, inner]
        for f, e in zip(self.files, env, strict=True):
            np.ascontiguousarray(e, dtype=np.float64).tofile(f)
        self.env_lo = np.minimum(self.env_lo, env.min(axis=1))
        self.env_hi = np.maximum(self.env_hi, env.max(axis=1))
        self.env_moments.update(env)

    def finish_envelopes(self) -> None:
        """Median and robust scale of each envelope (as :func:`~.ica.gate_scale`)."""
        n = self.env_moments.n
        sd = np.sqrt(self.env_moments.var)
        self.med, self.scale = [], []
        for j, f in enumerate(self.files):
            def values(transform=None, f=f):
                def read():
                    f.seek(0)
                    while True:
                        x = np.fromfile(f, dtype=np.float64, count=READ_VALUES)
                        if not x.size:
                            return
                        yield x if transform is None else transform(x)
                return read

            lo, hi = self.env_lo[j], self.env_hi[j]
            med = streamstats.median(values(), n, lo, hi)
            mad = streamstats.median(values(lambda x, m=med: np.abs(x - m)), n, 0.0,
                                     max(hi - med, med - lo))
            self.med.append(med)
            self.scale.append(float(1.4826 * mad or (sd[j] or 1.0)))
            f.close()
        self.files = []

    def apply(self, raw: mne.io.BaseRaw, inner: slice) -> None:
        """Remove the components from ``raw`` (samples ``inner`` are exact; in place)."""
        data = raw._data   # MNE's own buffer: the RawArray wraps the block
        self.before.update(data[self.data_picks, inner])
        if self.full:
            self.ica.apply(raw, verbose="error")
        else:
            sources = self._sources(raw)
            env = envelope(sources, self.sfreq)
            for j in range(len(self.exclude)):
                g = gate_of(env[j], self.med[j], self.scale[j], self.sfreq, self.z)[inner]
                data[self.target, inner] -= np.outer(self.mixing[:, j], sources[j, inner] * g)
                self.gate_sum[j] += g.sum()
        self.after.update(data[self.data_picks, inner])

    def qc(self) -> dict:
        """``variance_removed`` of the ICA; ``active_fraction`` of each removed component."""
        if self.targeted:
            for j, k in enumerate(self.exclude):
                self.comps[k]["active_fraction"] = float(self.gate_sum[j] / self.after.n)
        return _fraction_removed(self.before.var, self.after.var, self.types)


def _fraction_removed(vb, va, types) -> dict:
    """1 - var(after)/var(before) from per-channel variances: per type (summed over
    channels) and overall (mean of the per-type fractions weighted by channel count)."""
    types = np.asarray(types)
    per_type = {}
    for t in dict.fromkeys(types.tolist()):
        m = types == t
        per_type[t] = float(1.0 - va[m].sum() / vb[m].sum()) if vb[m].sum() > 0 else 0.0
    total = float(sum(per_type[t] * (types == t).sum() for t in per_type) / len(types))
    return {"total": total, "per_type": per_type}
