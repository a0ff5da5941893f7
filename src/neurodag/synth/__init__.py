"""Synthetic recordings with ground truth, one generator per modality.

>>> from neurodag import synth
>>> sim = synth.generate("eeg", seed=0, duration=30)   # or synth.eeg(seed=0, duration=30)
>>> sim.data        # the signal contract (schema.validate passes)
>>> sim.truth       # ground truth, named dims (see each generator's module docstring)
>>> paths = synth.write(sim, "out/")                    # real-format files + truth.nc

Generators: :mod:`~neurodag.synth.eeg`, :mod:`~neurodag.synth.meg`,
:mod:`~neurodag.synth.seeg` (``layout="grid"`` gives ECoG, also ``synth.ecog``),
:mod:`~neurodag.synth.fmri`, :mod:`~neurodag.synth.calcium`,
:mod:`~neurodag.synth.spikes` (with ``sample_params`` and ``sample`` for the GLM-HMM),
:mod:`~neurodag.synth.behavior` (choices of a GLM-HMM observer: a trial table, dim
``trial``).
Each module is callable: ``synth.eeg(**params)`` is ``synth.eeg.generate(**params)``.
Same parameters and seed give identical numbers (see :mod:`neurodag.synth.common`).
"""

from __future__ import annotations

from ..errors import InputError
from . import behavior, calcium, eeg, fmri, meg, seeg, spikes
from .common import Simulation, check_params
from .files import FILES, write, write_truth

#: The names :func:`generate` accepts (the contract's modalities).
MODALITIES = ("eeg", "meg", "seeg", "ecog", "fmri", "calcium", "spikes", "behavior")

_MODULES = {"eeg": eeg, "meg": meg, "seeg": seeg, "ecog": seeg, "fmri": fmri,
            "calcium": calcium, "spikes": spikes, "behavior": behavior}


def ecog(**params) -> Simulation:
    """ECoG grid: :func:`neurodag.synth.seeg.generate` with ``layout="grid"``."""
    check_params(seeg.generate, "ecog", params)
    if params.setdefault("layout", "grid") != "grid":
        raise InputError(f"synth.ecog: layout must be 'grid', got {params['layout']!r}")
    return seeg.generate(**params)


def generate(modality: str, seed: int = 0, **params) -> Simulation:
    """Simulate a recording of ``modality`` with its ground truth.

    Parameters
    ----------
    modality : str
        One of :data:`MODALITIES`.
    seed : int
        Non-negative seed; the same seed and parameters give identical numbers.
    **params
        Generator parameters (``subject``, ``session``, ``duration``, ...), see the
        generator's ``generate``.

    Returns
    -------
    Simulation
        ``data`` (the contract), ``truth``, ``params``.
    """
    if modality not in _MODULES:
        raise InputError(f"synth: unknown modality {modality!r} (expected one of "
                         f"{', '.join(MODALITIES)})")
    if modality == "ecog":
        return ecog(seed=seed, **params)
    module = _MODULES[modality]
    check_params(module.generate, modality, params)
    if modality == "seeg" and params.get("layout", "shafts") != "shafts":
        raise InputError("synth.seeg: layout must be 'shafts' (use modality 'ecog' for a grid)")
    return module.generate(seed=seed, **params)


__all__ = ["MODALITIES", "FILES", "Simulation", "generate", "write", "write_truth", "eeg",
           "meg", "seeg", "ecog", "fmri", "calcium", "spikes", "behavior"]
