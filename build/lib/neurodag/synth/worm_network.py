"""Worms simulated from a real connectome: a rate network driven through stimulus epochs.

Network (:func:`network`)
-------------------------
Cells of the connectome (e.g. Cook et al. 2019, ``reference.read("cect", "cook2019_herm",
cache)``) are mapped to the 300 canonical neurons (:func:`~neurodag.homogenize.names.
normalize_neuron`; muscles and other cells are dropped). With ``C[pre, post]`` the
chemical and ``G`` the (symmetrised) electrical weights::

    tau dx_i/dt = -x_i + tanh( sum_j J_ij x_j + s_i(t) + b ) + sigma * eta_i(t)

    J = g_c * S * log1p(C)^T / c_bar  +  g_e * (log1p(G) - diag(rowsum log1p(G))) / e_bar
        - (g_inh / N) * 1 1^T

``log1p`` compresses the heavy-tailed EM-section counts; ``c_bar`` and ``e_bar`` are the
mean in-strengths, so that ``g_c`` and ``g_e`` are gains per average neuron. Signs: the
cect Cook 2019 files carry no neurotransmitter classes (only generic chemical and gap
junction classes), so ``S`` is +1 (excitatory) for every presynaptic neuron except the 26
GABAergic neurons (McIntire et al. 1993: DD1-6, VD1-13, RMED, RMEV, RMEL, RMER, AVL, DVB,
RIS), which inhibit. Glutamate-gated chloride inhibition (e.g. AWC to AIY) is not
represented; a global inhibition ``g_inh`` keeps the network from saturating. Gap
junctions couple diffusively (the graph Laplacian). ``eta`` is an Ornstein-Uhlenbeck
noise (time constant 2 s), independent per neuron and animal.

Defaults (``g_chem = 1.5``, ``g_elec = 0.5``, ``g_inh = 1``, ``sigma = 0.05``,
``drive = 6``) put the network in a graded regime where sensory pulses propagate: in one
simulated animal the stimulus (lags 0-3 s) explains R^2 = 0.28 of AVAL's activity, 0.55
of AVDL's, 0.36 of AVBL's and 0.61 of PVCL's. Stronger chemical gain (2 and above) makes
it multistable: the command interneurons saturate and switch state on their own, and the
stimulus explains almost none of their activity.

Stimuli and animals (:func:`simulate`)
--------------------------------------
A protocol of epochs (default :data:`PROTOCOL`: baseline, then each stimulus in
:data:`STIMULI` separated by baselines, 60 s each) is the same for every animal, as in an
experiment. During a stimulus epoch its sensory neurons receive pulses (amplitude
``drive``, on 2-5 s, off 3-8 s, drawn per animal). Each animal has its own noise, a gain
in [0.8, 1.2] on the drive, its own frame rate (``sfreq_range``) and its own subset of
identified neurons (a fraction in ``observed_range``). Fluorescence is ``x`` convolved
with a GCaMP kernel (rise 0.2 s, decay 1 s), sampled at the frame rate, plus white noise
(``noise``): a calcium contract Dataset (``dF/F``) per animal, ready for
:func:`neurodag.homogenize.worms.stack`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.signal import fftconvolve

from .. import schema
from ..errors import InputError
from .common import indicator_kernel, ou_noise

#: The 26 GABAergic neurons of the hermaphrodite (McIntire et al. 1993).
GABAERGIC = ("RMEL", "RMER", "RMED", "RMEV", "AVL", "DVB", "RIS",
             *(f"DD{i}" for i in range(1, 7)), *(f"VD{i}" for i in range(1, 14)))
#: Sensory neurons driven in each stimulus epoch.
STIMULI = {
    "nociceptive": ("ASHL", "ASHR"),
    "posterior_touch": ("PLML", "PLMR"),
    "anterior_touch": ("ALML", "ALMR", "AVM"),
    "odor": ("AWAL", "AWAR", "AWCL", "AWCR"),
    "salt": ("ASEL", "ASER"),
}
#: Default protocol: (label, duration in s).
PROTOCOL = (("baseline", 60.0),) + tuple(
    item for name in STIMULI for item in ((name, 60.0), ("baseline", 60.0)))
#: Locomotion command interneurons (reversal and forward).
COMMAND = {"reversal": ("AVAL", "AVAR", "AVDL", "AVDR", "AVEL", "AVER"),
           "forward": ("AVBL", "AVBR", "PVCL", "PVCR")}
_DT = 0.05


@dataclass
class WormNetwork:
    neurons: list[str]
    coupling: np.ndarray          # J (N, N), row = post, column = pre
    chemical: np.ndarray          # (N, N) [pre, post] raw weights on canonical neurons
    electrical: np.ndarray        # (N, N) symmetric


def network(connectome: xr.Dataset, *, g_chem: float = 1.5, g_elec: float = 0.5,
            g_inh: float = 1.0) -> WormNetwork:
    """The coupling matrix ``J`` of the module docstring from a connectome Dataset."""
    from ..homogenize.names import canonical_neurons, normalize_neuron

    if "weight" not in connectome or "synapse" not in connectome.dims:
        raise InputError("synth.worm_network: expected a connectome Dataset with weight "
                         "(pre, post, synapse)")
    cells = [str(c) for c in connectome["pre"].values]
    canon = canonical_neurons()
    index = {n: i for i, n in enumerate(canon)}
    rows = [(k, index[m]) for k, c in enumerate(cells)
            if (m := normalize_neuron(c)) is not None and m in index]
    if len(rows) < 10:
        raise InputError(f"synth.worm_network: only {len(rows)} connectome cells are "
                         "canonical neurons")
    src = np.array([k for k, _ in rows])
    dst = np.array([i for _, i in rows])
    n = len(canon)
    synapses = [str(s) for s in connectome["synapse"].values]
    weight = np.asarray(connectome["weight"].values, dtype=np.float64)
    chem = np.zeros((n, n))
    elec = np.zeros((n, n))
    if "chemical" in synapses:
        chem[np.ix_(dst, dst)] = weight[np.ix_(src, src)][..., synapses.index("chemical")]
    if "electrical" in synapses:
        e = weight[np.ix_(src, src)][..., synapses.index("electrical")]
        elec[np.ix_(dst, dst)] = (e + e.T) / 2
    np.fill_diagonal(chem, 0.0)
    np.fill_diagonal(elec, 0.0)
    sign = np.where(np.isin(np.asarray(canon), GABAERGIC), -1.0, 1.0)
    c = np.log1p(chem).T * sign[None, :]               # row = post, column = pre
    c_bar = max(float(np.abs(c).sum(1).mean()), 1e-12)
    e = np.log1p(elec)
    lap = e - np.diag(e.sum(1))
    e_bar = max(float(e.sum(1).mean()), 1e-12)
    coupling = g_chem * c / c_bar + g_elec * lap / e_bar - g_inh / n
    return WormNetwork(neurons=list(canon), coupling=coupling, chemical=chem, electrical=elec)


def _pulses(rng, n_steps: int, on: np.ndarray) -> np.ndarray:
    """0/1 pulse train inside the True stretches of ``on`` (on 2-5 s, off 3-8 s)."""
    out = np.zeros(n_steps)
    t = 0
    while t < n_steps:
        if not on[t]:
            t += 1
            continue
        t += int(rng.uniform(0.5, 3.0) / _DT)
        length = int(rng.uniform(2.0, 5.0) / _DT)
        out[t:t + length] = 1.0
        t += length + int(rng.uniform(3.0, 8.0) / _DT)
    return out * on


def run_network(net: WormNetwork, stimulus: np.ndarray, rng, *, tau: float = 0.5,
                sigma: float = 0.3, bias: float = 0.0) -> np.ndarray:
    """Euler integration (step 0.05 s) of the rate network for a ``(steps, N)`` input."""
    n_steps, n = stimulus.shape
    eta = sigma * ou_noise(rng, n_steps, n, 2.0, _DT, stationary=True)
    x = np.zeros((n_steps, n))
    xt = np.zeros(n)
    j = net.coupling
    for t in range(n_steps):
        xt = xt + _DT / tau * (-xt + np.tanh(j @ xt + stimulus[t] + bias) + eta[t])
        x[t] = xt
    return x


def simulate(connectome: xr.Dataset, *, n_animals: int = 5, seed: int = 0,
             protocol=PROTOCOL, drive: float = 6.0, observed_range=(0.6, 0.85),
             sfreq_range=(2.0, 4.0), noise: float = 0.05, tau: float = 0.5,
             sigma: float = 0.05, **network_options):
    """Simulate ``n_animals`` worms from ``connectome``; return recordings and truth.

    Returns
    -------
    recordings : dict
        ``{"worm{k}": calcium contract Dataset}`` (dF/F, identified neurons only).
    truth : xarray.Dataset
        ``activity`` (animal, time, neuron) on the 0.05 s grid, ``stimulus`` (animal,
        time, neuron), ``observed`` (animal, neuron), and ``epoch_start``, ``epoch_end``,
        ``epoch_label`` along ``epoch``.
    """
    from .common import rngs

    net = network(connectome, **network_options)
    labels = [str(p[0]) for p in protocol]
    durations = np.asarray([float(p[1]) for p in protocol])
    bad = sorted(set(labels) - set(STIMULI) - {"baseline"})
    if bad:
        raise InputError(f"synth.worm_network: unknown epoch label(s) {bad}; expected "
                         f"'baseline' or one of {list(STIMULI)}")
    ends = np.cumsum(durations)
    starts = ends - durations
    n_steps = int(round(ends[-1] / _DT))
    t_fine = np.arange(n_steps) * _DT
    n = len(net.neurons)
    idx = {nm: i for i, nm in enumerate(net.neurons)}
    kernel = indicator_kernel(_DT, 0.2, 1.0)
    recordings, acts, stims, observed = {}, [], [], []
    for a in range(int(n_animals)):
        _, rng = rngs("worm_network", seed, "01", f"{a:02d}")
        stim = np.zeros((n_steps, n))
        gain = rng.uniform(0.8, 1.2)
        for lab, s, e in zip(labels, starts, ends, strict=True):
            if lab == "baseline":
                continue
            on = (t_fine >= s) & (t_fine < e)
            for nm in STIMULI[lab]:
                stim[:, idx[nm]] += drive * gain * _pulses(rng, n_steps, on)
        x = run_network(net, stim, rng, tau=tau, sigma=sigma)
        calcium = fftconvolve(x, kernel[:, None], axes=0)[:n_steps]
        sfreq = round(float(rng.uniform(*sfreq_range)), 3)
        frames = np.arange(int(ends[-1] * sfreq)) / sfreq
        sample = np.minimum(np.round(frames / _DT).astype(int), n_steps - 1)
        keep = np.sort(rng.choice(n, size=int(round(rng.uniform(*observed_range) * n)),
                                  replace=False))
        sig = calcium[np.ix_(sample, keep)]
        sig = sig + noise * rng.standard_normal(sig.shape)
        recordings[f"worm{a}"] = schema.build(
            sig, sfreq=sfreq, channels=[net.neurons[i] for i in keep],
            channel_types="neuron", units="dF/F", modality="calcium", subject=f"worm{a}",
            session="01", source="synthetic:worm_network",
            attrs={"connectome": str(connectome.attrs.get("annotation", ""))})
        acts.append(x.astype(np.float32))
        stims.append(stim.astype(np.float32))
        mask = np.zeros(n, bool)
        mask[keep] = True
        observed.append(mask)
    truth = xr.Dataset(
        {"activity": (("animal", "time", "neuron"), np.stack(acts)),
         "stimulus": (("animal", "time", "neuron"), np.stack(stims)),
         "observed": (("animal", "neuron"), np.stack(observed)),
         "epoch_start": ("epoch", starts), "epoch_end": ("epoch", ends),
         "epoch_label": ("epoch", np.asarray(labels, dtype=object))},
        coords={"animal": list(recordings), "time": t_fine,
                "neuron": np.asarray(net.neurons, dtype=object)},
        attrs={"drive": drive, "tau": tau, "sigma": sigma, "noise": noise, "seed": seed},
    )
    return recordings, truth, net
