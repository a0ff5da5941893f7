"""neurodag: neural recordings to NWB, xarray stores, models and reports, as one DAG."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neurodag")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
