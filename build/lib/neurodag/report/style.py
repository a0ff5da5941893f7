"""One look for every report figure: matplotlib settings, colours and display units."""

from __future__ import annotations

from contextlib import contextmanager

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..schema import DEFAULT_UNITS

#: Resolution of saved figures; with the figure sizes below, pages get ~1100 px wide images.
DPI = 100

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#444444",
    "axes.linewidth": 0.8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 0.7,
    "image.interpolation": "nearest",
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
}

#: Trace colour per channel type.
COLORS = {
    "eeg": "#1d3557", "mag": "#1d3557", "grad": "#457b9d", "seeg": "#6b3e26",
    "ecog": "#2d6a4f", "eog": "#7b2cbf", "ecg": "#b5179e", "emg": "#c1121f",
    "bold": "#1d3557", "roi": "#2d6a4f", "neuron": "#222222", "stim": "#666666",
    "misc": "#888888",
}

#: Colours of event labels, cycled.
EVENT_COLORS = (
    "#e63946", "#2a9d8f", "#f4a261", "#6a4c93", "#1982c4", "#8ac926", "#ff595e", "#6d6875",
)


def display_unit(channel_type: str, unit: str) -> tuple[float, str]:
    """Factor and unit to show values of ``channel_type`` stored in ``unit``.

    SI volts and teslas are shown the way MNE shows them (µV, fT, fT/cm, mV for sEEG);
    anything else is shown as stored.
    """
    from mne.defaults import DEFAULTS

    if unit == DEFAULT_UNITS.get(channel_type) and channel_type in DEFAULTS["scalings"]:
        return float(DEFAULTS["scalings"][channel_type]), str(DEFAULTS["units"][channel_type])
    return 1.0, unit


@contextmanager
def figure(width: float, height: float):
    """A new figure on an Agg canvas, under the report style.

    The canvas is attached directly: no pyplot, no global backend switch, nothing kept
    alive after the figure is saved (safe in notebooks and in threads).
    """
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(fig)
        yield fig


def save(fig: Figure, path) -> None:
    """Write ``fig`` as PNG under the report style, atomically (temporary name, rename)."""
    from ..store import atomic_path

    with matplotlib.rc_context(RC), atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
