"""Homogenization: one set of names, one time grid, one graph across recordings and sources.

>>> from neurodag import homogenize
>>> stacked = homogenize.worms.stack({"synth_worm": [ds1, ds2]})        # (session, time, neuron)
>>> merged = homogenize.connectomes.merge(homogenize.connectomes.load_references("cache/"))
>>> eeg = homogenize.channels.stack({"a": ds_a, "b": ds_b})            # (session, time, channel)
>>> seeg = homogenize.channels.stack([s1, s2], by="region")            # (session, time, region)

Modules:

:mod:`~neurodag.homogenize.names`        canonical C. elegans neurons, label normalisation
                                         (VB01 -> VB1, AWCON/AWCOFF), EEG 10-05 names
:mod:`~neurodag.homogenize.resample`     common step (spline interpolation up, exact block
                                         averaging down), polyphase rate change, smoothing
:mod:`~neurodag.homogenize.worms`        calcium recordings -> (session, time, neuron) stack
:mod:`~neurodag.homogenize.connectomes`  connectome annotations -> (annotation, pre, post,
                                         synapse) with a consensus; Jaccard agreement
:mod:`~neurodag.homogenize.channels`     EEG/MEG/sEEG/fMRI sessions -> (session, time,
                                         channel | region)
:mod:`~neurodag.homogenize.regions`      contacts, parcels and voxels -> atlas regions
:mod:`~neurodag.homogenize.options`      the options of each kind (step: neurodag.steps.homogenize)

DESIGN.md places homogenization under ``preprocess/``; it lives here as its own package.
"""

from . import channels, connectomes, names, regions, resample, worms
from .names import canonical_neurons, normalize_eeg, normalize_neuron

__all__ = [
    "channels", "connectomes", "names", "regions", "resample", "worms",
    "canonical_neurons", "normalize_eeg", "normalize_neuron",
]
