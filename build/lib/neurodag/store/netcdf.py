"""xarray <-> netCDF (HDF5, h5netcdf) for model outputs, written atomically.

netCDF attributes hold strings, numbers and flat arrays; mappings (provenance ``inputs``,
``versions``) and booleans are stored as JSON strings and parsed back on reading.
"""

from __future__ import annotations

import json
from pathlib import Path

import xarray as xr

from ..errors import InputError
from .atomic import atomic_path

_JSON_PREFIX = "json:"


def _encode(value):
    if isinstance(value, (dict, list, tuple, bool)) or value is None:
        return _JSON_PREFIX + json.dumps(value, default=str)
    return value


def _decode(value):
    if isinstance(value, str) and value.startswith(_JSON_PREFIX):
        return json.loads(value[len(_JSON_PREFIX):])
    return value


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` (netCDF4/HDF5 through h5netcdf) atomically."""
    path = Path(path)
    out = ds.copy()
    out.attrs = {k: _encode(v) for k, v in ds.attrs.items()}
    for name, var in out.variables.items():
        var.attrs = {k: _encode(v) for k, v in var.attrs.items()}
        var.encoding = {}
        if var.dtype == object:
            out[name] = var.astype(str)
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine="h5netcdf", invalid_netcdf=True)
    return path


def read_netcdf(path: str | Path) -> xr.Dataset:
    """Read a file written by :func:`write_netcdf` (loaded into memory)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such netCDF file")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as f:
            ds = f.load()
    except Exception as e:  # h5py/h5netcdf raise many types for broken files
        raise InputError(f"{path}: not a readable netCDF file ({type(e).__name__})") from None
    ds.attrs = {k: _decode(v) for k, v in ds.attrs.items()}
    for var in ds.variables.values():
        var.attrs = {k: _decode(v) for k, v in var.attrs.items()}
    strings = {n: v.astype(object) for n, v in ds.variables.items() if v.dtype.kind in "UO"}
    coords = {n: v for n, v in strings.items() if n in ds.coords}
    return ds.assign_coords(coords).assign({n: v for n, v in strings.items() if n not in coords})

