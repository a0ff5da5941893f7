"""The semi-synthetic EMG benchmark (EEGdenoiseNet protocol) on real and synthetic EEG.

Clean EEG
    Recordings, each wholly in one split (never split by epoch):

    - synthetic: :func:`neurodag.synth.eeg` without blinks, saccades, muscle, heart or mains
      (brain dipoles + 0.5-2 uV white sensor noise), 32 channels, one subject per recording
      (``train000``, ..., ``val000``, ..., ``test000``, ...: a split's recordings do not
      depend on the size of the others), alpha and evoked amplitudes drawn per subject;
    - real, always: spkit's 14-channel Emotiv recording ``eeg16s`` (:mod:`neurodag.reference`)
      -> **test**;
    - real, when a folder of MNE's test recordings is given (``real_dir``): ``test.edf``
      (BioSemi, 6 s) -> **train**. ``test.bdf`` is 1 s (shorter than one epoch) and
      ``test.vhdr`` holds a 5 Hz square calibration wave (inter-channel r = 0.999), so
      neither is EEG for this purpose.

    Each recording goes through :func:`neurodag.preprocess.run` with ICA off (notch at a
    detected line frequency for real files, band-pass 1-80 Hz capped at 0.45 x its rate,
    flat/noisy channels dropped, average reference), is resampled to :data:`SFREQ` and cut
    into 2 s epochs; channel-epochs whose std is outside 0.2-4 x the recording's median
    (residual blinks, pops, flat stretches) are left out (the ``keep`` mask).
EMG
    Per recording, :data:`N_MUSCLES` independent muscles from :mod:`neurodag.denoise.emg`
    (left and right temporalis, frontalis, neck) projected onto the channels with weights
    ``exp(-(d - d_min) / 4 cm)`` of each electrode's distance to the muscle (channels
    without positions: random Dirichlet weights).
Mains notches
    Clean EEG and EMG are both notched at 50 and 60 Hz (:func:`notch`), as
    :mod:`neurodag.denoise.inference` notches what it gives the network: mains noise in a
    real recording is not EMG, and is returned as it was.
Mixing (:func:`mix`)
    ``y = x + lambda * n`` with ``lambda = RMS(x) / (RMS(n) * 10**(SNR/20))``, then ``x`` and
    ``y`` divided by ``std(y)``. Training pairs a random clean epoch with a random EMG epoch
    of the training recordings at an SNR uniform in [-7, 2] dB (EEGdenoiseNet's random
    pairing, drawn afresh for every batch); validation and test pair each channel-epoch
    with its own recording's EMG on that channel and epoch, at each of the 10 SNRs
    ``linspace(-7, 2, 10)``.

    Note: EEGdenoiseNet's code scales the noise with ``10**(0.1*SNR)`` (a power ratio
    applied to rms), so its "-7 dB" is -14 dB and its "2 dB" is 4 dB in the rms definition
    used here; :data:`EEGDENOISENET_SNRS` gives those levels for comparison.
Multichannel protocol (:meth:`Benchmark.multichannel`)
    For methods that need all channels (ICA): one ``lambda`` per channel over the whole test
    recording, so that each channel's recording-level SNR is the requested one and the EMG
    keeps a fixed spatial mixing; every method is then scored on the same channel-epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import emg as _emg

#: Model rate (Hz), epoch length (s) and samples per epoch.
SFREQ, EPOCH_S = 256.0, 2.0
N_SAMPLES = int(SFREQ * EPOCH_S)
SNR_RANGE = (-7.0, 2.0)
TEST_SNRS = tuple(float(s) for s in np.linspace(-7.0, 2.0, 10))
#: EEGdenoiseNet's nominal -7 and 2 dB in this module's (rms, 20 log10) definition.
EEGDENOISENET_SNRS = (-14.0, 4.0)
#: Muscles whose EMG reaches the scalp: name -> head-frame position (m).
MUSCLES = {
    "temporalis_left": (-0.080, 0.025, 0.0),
    "temporalis_right": (0.080, 0.025, 0.0),
    "frontalis": (0.0, 0.095, 0.03),
    "neck": (0.0, -0.085, -0.04),
}
N_MUSCLES = len(MUSCLES)
EMG_DECAY = 0.04
#: Channel-epochs kept when their std is within these factors of the recording median.
KEEP_STD = (0.2, 4.0)
#: Mains frequencies (Hz) notched out of the model's band (quality factor LINE_Q): line
#: noise is not EMG. Clean EEG and EMG are notched alike, as inference notches its input.
LINE_HZ, LINE_Q = (50.0, 60.0), 30.0
#: Default number of synthetic recordings per split (train, validation, test).
N_SYNTHETIC = (28, 6, 6)
SPLITS = ("train", "val", "test")


@dataclass
class Recording:
    """One clean recording at :data:`SFREQ`, its EMG and its split.

    Attributes
    ----------
    name : str
        ``synthetic:<subject>``, ``spkit:eeg16s`` or ``real:<file name>``.
    kind : {"synthetic", "real"}
    split : {"train", "val", "test"}
    eeg : ndarray, shape (n_times, n_channels)
        Clean EEG (V, average reference, 1-80 Hz).
    emg : ndarray, shape (n_times, n_channels)
        Unit-rms muscle sources projected onto the channels (a.u.).
    channels : list of str
    positions : ndarray, shape (n_channels, 3)
        Head-frame positions (m), NaN where unknown.
    keep : ndarray of bool, shape (n_epochs, n_channels)
        Channel-epochs used by the single-channel benchmark.
    info : dict
        Original rate, line frequency notched (or None), channels dropped.
    """

    name: str
    kind: str
    split: str
    eeg: np.ndarray
    emg: np.ndarray
    channels: list
    positions: np.ndarray
    keep: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def n_epochs(self) -> int:
        return self.eeg.shape[0] // N_SAMPLES

    def epochs(self, what: str = "eeg") -> np.ndarray:
        """``(n_epochs, n_channels, N_SAMPLES)`` view of ``eeg`` or ``emg``."""
        arr = getattr(self, what)[: self.n_epochs * N_SAMPLES]
        return arr.reshape(self.n_epochs, N_SAMPLES, -1).transpose(0, 2, 1)


def notch(x: np.ndarray, *, high: float = 80.0, axis: int = -1,
          padlen: int | None = None) -> np.ndarray:
    """Zero-phase notches at :data:`LINE_HZ` (those below ``high``) of ``x`` at
    :data:`SFREQ`, mirror padding."""
    from scipy import signal as sps

    n = x.shape[axis]
    pad = min(n - 1, int(SFREQ / 2) if padlen is None else padlen)
    for f0 in LINE_HZ:
        if f0 < high:
            sos = sps.tf2sos(*sps.iirnotch(f0, LINE_Q, fs=SFREQ))
            x = sps.sosfiltfilt(sos, x, axis=axis, padtype="even", padlen=pad)
    return x


def rms(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Root mean square along ``axis``."""
    return np.sqrt(np.mean(np.square(a), axis=axis))


def mix(x: np.ndarray, n: np.ndarray, snr_db) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contaminate clean epochs ``x`` with EMG ``n`` at ``snr_db`` (EEGdenoiseNet protocol).

    Parameters
    ----------
    x, n : ndarray, shape (..., n_samples)
        Clean EEG and EMG epochs (broadcastable).
    snr_db : float or ndarray, shape (...)
        SNR in dB, ``20 log10(RMS(x) / RMS(lambda n))``.

    Returns
    -------
    y, x_scaled, n_scaled : ndarray, shape (..., n_samples)
        Contaminated and clean epochs divided by ``std(y)``, and ``lambda n / std(y)``
        (so that ``y == x_scaled + n_scaled``).
    """
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    snr = np.asarray(snr_db, dtype=np.float64)[..., None]
    rn = rms(n)[..., None]
    if np.any(rn == 0):
        raise InputError("mix: an EMG epoch is all zeros; the SNR is undefined")
    lam = rms(x)[..., None] / (rn * 10.0 ** (snr / 20.0))
    noise = lam * n
    y = x + noise
    s = y.std(axis=-1, keepdims=True)
    s = np.where(s > 0, s, 1.0)
    return y / s, x / s, noise / s


def achieved_snr(x: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``20 log10(RMS(x) / RMS(noise))`` along the last axis (dB)."""
    return 20.0 * np.log10(rms(x) / rms(noise))


def emg_patterns(rng: np.random.Generator, positions: np.ndarray) -> np.ndarray:
    """Weights ``(n_channels, N_MUSCLES)`` of each muscle on each channel (1 at the nearest).

    Decays as ``exp(-(d - d_min) / EMG_DECAY)`` with the distance ``d`` of an electrode to
    the muscle (position jittered by 1 cm per recording); channels without positions get
    random Dirichlet weights.
    """
    pos = np.asarray(positions, dtype=np.float64)
    w = np.zeros((pos.shape[0], N_MUSCLES))
    ok = np.isfinite(pos).all(axis=1)
    centres = np.array(list(MUSCLES.values())) + rng.normal(0.0, 0.01, (N_MUSCLES, 3))
    if ok.any():
        d = np.linalg.norm(pos[ok, None, :] - centres[None], axis=2)
        w[ok] = np.exp(-(d - d.min(axis=0, keepdims=True)) / EMG_DECAY)
    if (~ok).any():
        w[~ok] = rng.dirichlet(np.ones(N_MUSCLES), int((~ok).sum()))
    return w


def keep_mask(eeg: np.ndarray) -> np.ndarray:
    """Channel-epochs (n_epochs, n_channels) whose std is within :data:`KEEP_STD` x median."""
    n_ep = eeg.shape[0] // N_SAMPLES
    ep = eeg[: n_ep * N_SAMPLES].reshape(n_ep, N_SAMPLES, -1)
    s = ep.std(axis=1)
    med = np.median(s[s > 0]) if (s > 0).any() else 0.0
    return (s > KEEP_STD[0] * med) & (s < KEEP_STD[1] * med)


def _seed_for(seed: int, name: str) -> np.random.Generator:
    """A generator that depends only on the seed and the recording's name."""
    import zlib

    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def resample(x: np.ndarray, sfreq: float, target: float = SFREQ) -> np.ndarray:
    """Resample ``(time, ...)`` from ``sfreq`` to ``target`` (polyphase, anti-aliased)."""
    from ..homogenize.resample import rational_resample

    return np.asarray(rational_resample(x, sfreq, target, axis=0)[0], dtype=np.float64)


def clean_eeg(ds, *, real: bool) -> tuple[np.ndarray, list, np.ndarray, dict]:
    """The benchmark's clean EEG of a contract Dataset: (time, channel) at :data:`SFREQ`.

    :func:`neurodag.preprocess.run` with ICA off: notch (real recordings, at a detected line
    frequency), band-pass 1-80 Hz (capped at 0.45 x the rate), flat/noisy channels
    dropped, average reference. Returns the samples (V), channel names, positions (m,
    NaN where unknown) and the preprocessing summary.
    """
    from .. import preprocess

    sfreq = float(ds.attrs["sfreq"])
    clean, qc = preprocess.run(
        ds, notch=bool(real), bandpass=[1.0, min(80.0, 0.45 * sfreq)], reference="average",
        ica={"enabled": False}, bads={"interpolate": False})
    eeg = clean.isel(channel=np.asarray(clean["channel_type"].values == "eeg"))
    x = resample(eeg["signal"].transpose("time", "channel").values, sfreq)
    if all(k in eeg.coords for k in ("x", "y", "z")):
        pos = np.stack([eeg[k].values.astype(float) for k in ("x", "y", "z")], axis=1)
    else:
        pos = np.full((eeg.sizes["channel"], 3), np.nan)
    summary = {"sfreq": sfreq, "line_freq": qc["line_freq"]["value"],
               "dropped": [b["channel"] for b in qc["bad_channels"]]}
    return x, [str(c) for c in eeg["channel"].values], pos, summary


def synthetic_contract(seed: int, subject: str, duration: float):
    """Synthetic artifact-free EEG (brain + sensor noise) of ``subject``."""
    import zlib

    from .. import synth

    rng = np.random.default_rng([int(seed), 104729, zlib.crc32(subject.encode())])
    sim = synth.eeg(
        seed=int(seed), subject=subject, session="01", duration=float(duration),
        sfreq=SFREQ, eog=False, ecg=False, blink_rate=0.0, saccade_rate=0.0, muscle_rate=0.0,
        line_amplitude=0.0, alpha_amplitude=float(rng.uniform(30e-9, 150e-9)),
        evoked_amplitude=float(rng.uniform(40e-9, 120e-9)),
        noise_amplitude=float(rng.uniform(0.5e-6, 2e-6)))
    return sim.data


def _recording(name: str, kind: str, split: str, ds, seed: int) -> Recording:
    eeg, channels, pos, summary = clean_eeg(ds, real=(kind == "real"))
    if eeg.shape[0] < N_SAMPLES:
        raise InputError(f"{name}: {eeg.shape[0] / SFREQ:.2f} s of EEG, shorter than one "
                         f"{EPOCH_S:g} s epoch")
    rng = _seed_for(seed, name)
    sources = _emg.muscle_sources(rng, eeg.shape[0], SFREQ, N_MUSCLES)
    weights = emg_patterns(rng, pos)
    eeg, emg = notch(eeg, axis=0), notch(sources @ weights.T, axis=0)
    return Recording(name=name, kind=kind, split=split, eeg=eeg, emg=emg, channels=channels,
                     positions=pos, keep=keep_mask(eeg), info=summary)


@dataclass
class Benchmark:
    """Recordings with their splits; see the module docstring.

    Attributes
    ----------
    recordings : list of Recording
    seed : int
    """

    recordings: list
    seed: int = 0

    def split(self, split: str) -> list:
        """The recordings of ``split`` (one of :data:`SPLITS`)."""
        if split not in SPLITS:
            raise InputError(f"split {split!r}: expected one of {list(SPLITS)}")
        return [r for r in self.recordings if r.split == split]

    def table(self) -> list[dict]:
        """One JSON-able row per recording: name, kind, split, channels, epochs kept."""
        return [{"name": r.name, "kind": r.kind, "split": r.split,
                 "n_channels": len(r.channels), "n_epochs": r.n_epochs,
                 "channel_epochs": int(r.keep.sum()), **r.info} for r in self.recordings]

    def pairs(self, split: str) -> dict:
        """Kept channel-epochs of ``split``, each with its own EMG.

        Returns
        -------
        dict
            ``x``, ``n`` (N, N_SAMPLES) float64; ``recording`` (N,) index into
            :attr:`recordings`; ``kind`` (N,) ``"synthetic"``/``"real"``.
        """
        xs, ns, rec, kind = [], [], [], []
        for i, r in enumerate(self.recordings):
            if r.split != split:
                continue
            keep = r.keep
            xs.append(r.epochs("eeg")[keep])
            ns.append(r.epochs("emg")[keep])
            rec.append(np.full(int(keep.sum()), i))
            kind.append(np.full(int(keep.sum()), r.kind, dtype=object))
        if not xs:
            raise InputError(f"benchmark: the {split} split has no recordings")
        return {"x": np.concatenate(xs), "n": np.concatenate(ns),
                "recording": np.concatenate(rec), "kind": np.concatenate(kind)}

    def multichannel(self, recording: Recording, snr_db: float) -> np.ndarray:
        """``recording`` contaminated with one lambda per channel: ``(time, channel)`` (V).

        ``lambda_c`` makes the rms SNR of channel ``c`` over the whole recording equal
        ``snr_db``; the EMG keeps its fixed spatial mixing (what ICA assumes).
        """
        lam = rms(recording.eeg, axis=0) / (rms(recording.emg, axis=0) * 10 ** (snr_db / 20))
        return recording.eeg + recording.emg * lam


def build(seed: int = 0, *, n_synthetic=N_SYNTHETIC, duration: float = 60.0,
          cache_dir: str | Path | None = "resources/reference",
          real_dir: str | Path | None = None, progress=None) -> Benchmark:
    """Build the benchmark's recordings (clean EEG, EMG, splits).

    Parameters
    ----------
    seed : int
        Seeds the synthetic subjects and every recording's EMG.
    n_synthetic : (int, int, int)
        Synthetic recordings in train, validation and test.
    duration : float
        Length of each synthetic recording (s).
    cache_dir : path-like or None
        Reference cache holding spkit (:func:`neurodag.reference.fetch`); its ``eeg16s``
        recording joins the test split. None leaves it out (tests, smoke runs).
    real_dir : path-like or None
        Folder with MNE's ``test.edf`` (joins the training split when present).
    progress : callable, optional
        Called with one line of text per recording.

    Returns
    -------
    Benchmark
    """
    if len(n_synthetic) != 3 or any(int(k) < 0 for k in n_synthetic):
        raise InputError(f"n_synthetic={n_synthetic!r}: expected three counts "
                         "(train, val, test) >= 0")
    if float(duration) < EPOCH_S:
        raise InputError(f"duration={duration}: must be at least {EPOCH_S:g} s")
    recs = []
    for split, count in zip(SPLITS, n_synthetic, strict=True):
        for k in range(int(count)):
            subject = f"{split}{k:03d}"
            ds = synthetic_contract(seed, subject, duration)
            recs.append(_recording(f"synthetic:{subject}", "synthetic", split, ds, seed))
            if progress:
                progress(f"{recs[-1].name} -> {split}")
    if real_dir is not None:
        path = Path(real_dir) / "test.edf"
        if path.is_file():
            from .. import io

            recs.append(_recording("real:test.edf", "real", "train", io.read(path), seed))
            if progress:
                progress("real:test.edf -> train")
    if cache_dir is not None:
        from .. import reference

        ds = reference.read("spkit", "eeg16s", cache_dir)
        recs.append(_recording("spkit:eeg16s", "real", "test", ds, seed))
        if progress:
            progress("spkit:eeg16s -> test")
    return Benchmark(recordings=recs, seed=int(seed))
