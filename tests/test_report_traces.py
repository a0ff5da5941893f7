"""Stacked traces of real-looking mixed channels: every row stays readable."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from neurodag.report import figures


def test_channels_of_one_type_in_different_units_get_their_own_scale():
    # A KIT recording's "misc" holds reference magnetometers (T, ~1e-10) and a 5 V trigger
    # line: scaled together, the trigger spanned 4e10 rows and covered the whole figure.
    t = np.arange(2000) / 1000.0
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 3e-11, (t.size, 2))
    trigger = np.where((t * 10) % 1 < 0.1, 5.0, 0.0)[:, None]
    data = np.hstack([ref, trigger])
    ax = Figure().add_subplot()
    notes = figures.stacked_traces(ax, t, data, ["MEG 158", "MEG 159", "MISC 001"],
                                   ["misc"] * 3, ["T", "T", "V"])
    assert any(n.startswith("misc: 1 row = ") and n.endswith(" T") for n in notes), notes
    assert any(n.startswith("misc: 1 row = ") and n.endswith(" V") for n in notes), notes
    for row, line in enumerate(ax.lines):
        y = np.asarray(line.get_ydata()) + row  # offsets are 0, -1, -2
        assert np.abs(y).max() <= 1.0, (row, np.abs(y).max())
