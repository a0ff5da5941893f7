"""The homogenize step's options, declared once per kind of dataset (config ``homogenize:``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..options import Options, option


@dataclass(frozen=True)
class WormsOptions(Options):
    """Calcium: C. elegans recordings on the canonical neurons (:func:`.worms.stack`)."""

    dt: float = option(0.333, "common time step in s", gt=0)
    min_samples: int = option(600, "recordings shorter than this (samples on the common grid) "
                                   "are dropped", ge=1)
    smooth: float | None = option(None, "Gaussian smoothing sigma in s before resampling "
                                        "(default none)", gt=0)
    zscore: bool = option(True, "z-score each neuron")
    kind: Literal["cubic", "pchip", "linear"] = option("cubic", "interpolant used to resample")
    awc_on: Literal["L", "R"] | None = option(
        None, "the side of AWCON when recordings do not say (else AWCON/AWCOFF go to extra "
              "slots)")


@dataclass(frozen=True)
class ChannelsOptions(Options):
    """Other modalities: common channels (or regions) at one rate (:func:`.channels.stack`)."""

    by: Literal["channel", "region"] = option("channel", "stack channels or region means")
    channels: Literal["intersection", "union"] | list[str] = option(
        "intersection", "the common channel set (or a list of channel names)")
    sfreq: float | None = option(None, "common rate in Hz (default the lowest rate)", gt=0)
    interpolate: bool = option(False, "interpolate channels a session lacks (EEG with "
                                      "positions)")


@dataclass(frozen=True)
class MergeOptions(Options):
    """Connectomes: annotations merged on the canonical neurons (:func:`.connectomes.merge`)."""

    alpha: float = option(0.05, "q-value below which a functional pair is an edge", gt=0, le=1)


#: The homogenize kind of each modality, and its options.
KINDS = {"worms": WormsOptions, "channels": ChannelsOptions, "connectome": MergeOptions}


def kind_of(modality: str) -> str:
    """The homogenize kind of a modality (calcium: worms, connectome, else channels)."""
    return {"calcium": "worms", "connectome": "connectome"}.get(modality, "channels")
