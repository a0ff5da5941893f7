"""The readers' options, declared once (config ``ingest:``, ``neurodag ingest --set``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..options import Options, fail, option

PARCELLATIONS = ("power", "dosenbach", "seitzman")
#: The options of NWB files from other tools (:mod:`.nwb_foreign`, :mod:`.nwb_units`).
NWB_OPTIONS = ("series", "bin_width")


def _non_empty(value, path):
    if value == "":
        fail(path, "expected a non-empty string, got ''")
    return value


@dataclass(frozen=True)
class ReaderOptions(Options):
    """Options of :func:`neurodag.io.read`; each is used only by the readers it concerns."""

    sfreq: float | None = option(
        None, "sampling rate in Hz, for tables without a time column and CaImAn files "
              "without params/data/fr (checked against the file's rate when it has one)", gt=0,
        lt=float("inf"))
    tr: float | None = option(
        None, "repetition time in s: overrides the NIfTI/MGZ/GIFTI header; gives fMRI ROI "
              "tables their rate (sfreq = 1 / tr)", gt=0, lt=float("inf"))
    units: str | None = option(None, "units of calcium traces (default a.u.; CaImAn F_dff "
                                     "is dF/F)", check=_non_empty)
    line_freq: float | None = option(None, "power-line frequency in Hz, stored as attr "
                                           "line_freq", gt=0, lt=float("inf"))
    parcellation: Literal["power", "dosenbach", "seitzman"] | None = option(
        None, "a 4-D NIfTI without a label image is reduced to sphere means around nilearn's "
              "bundled MNI coordinates (Power 2011: 264, Dosenbach 2010: 160, Seitzman 2018: "
              "300 ROIs)")
    radius: float | None = option(None, "sphere radius in mm for option parcellation "
                                        "(default 5)", gt=0, lt=float("inf"))
    voxels: bool | None = option(
        None, "true: a 4-D NIfTI becomes one channel per voxel inside a brain mask (a 3-D "
              "NIfTI named *mask* given with it, else nilearn's compute_epi_mask)")
    include_non_cells: bool | None = option(
        None, "true: keep suite2p ROIs that iscell.npy does not classify as cells and CaImAn "
              "components outside estimates/idx_components (default false: cells/accepted "
              "components only)")
    reader: dict | None = option(
        None, "keyword arguments for the MNE reader of an EEG/MEG/iEEG file (e.g. {data_format: "
              "int16} for mne.io.read_raw_cnt), checked against that reader's signature")
    # NWB files from other tools (DANDI assets, neuroconv): see neurodag.io.nwb_foreign
    series: str | None = option(
        None, "NWB files from other tools: which series to read when the file holds several "
              "(its path in the file, e.g. processing/ecephys/LFP/ElectricalSeries, or its "
              "name when unique); the candidates are listed when it is needed",
        check=_non_empty)
    bin_width: float | None = option(None, "NWB Units tables: bin width in s for spike counts "
                                           "(default 0.01)", gt=0, lt=float("inf"))

    def given(self) -> dict:
        """The options that are set (not None), for the readers."""
        return {k: v for k, v in self.to_dict().items() if v is not None}
