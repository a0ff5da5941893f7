"""Stores: atomic xarray/zarr and NWB writing and reading.

>>> from neurodag import store
>>> store.write_signal(ds, "raw.zarr"); ds = store.read_signal("raw.zarr")
>>> store.write_nwb(ds, "raw.nwb"); ds = store.read_nwb("raw.nwb")
"""

from .atomic import atomic_path, read_json, write_json
from .netcdf import read_netcdf, write_netcdf
from .zarrstore import (
    SignalWriter,
    lazy_zeros,
    read_dataset,
    read_signal,
    write_dataset,
    write_signal,
)

__all__ = [
    "atomic_path", "read_json", "write_json", "read_dataset", "read_signal", "write_dataset",
    "write_signal", "SignalWriter", "lazy_zeros", "write_nwb", "read_nwb", "inspect_nwb", "read_netcdf", "write_netcdf",
]


def __getattr__(name):
    # NWB support imports pynwb (slow); load it only when asked for.
    if name in ("write_nwb", "read_nwb", "inspect_nwb"):
        from . import nwb

        return getattr(nwb, name)
    raise AttributeError(name)
