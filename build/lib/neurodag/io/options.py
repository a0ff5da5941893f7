"""The readers' options, declared once (config ``ingest:``, ``neurodag ingest --set``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..options import Options, option

PARCELLATIONS = ("power", "dosenbach", "seitzman")


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
                                     "is dF/F)")
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

    def given(self) -> dict:
        """The options that are set (not None), for the readers."""
        return {k: v for k, v in self.to_dict().items() if v is not None}
