"""Load pickled data without running arbitrary code: numpy arrays and plain containers only.

A pickle is a program: unpickling can import and call any function named in the file,
so ``np.load(..., allow_pickle=True)`` on a file from elsewhere can run anything before
the caller gets to check what came back. :class:`RestrictedUnpickler` refuses every global
except the few that numpy arrays, dtypes and numpy scalars are rebuilt from (and the
harmless builtins ``set``, ``frozenset``, ``complex``); lists, dicts, tuples, strings,
numbers, booleans and None need no global at all. Anything else (a class instance, a
function) makes loading fail with one line naming the file and the refused name. Arrays of
dtype ``object`` can still hold any of the admitted values, so callers check the types of
what they get (e.g. that suite2p's ``ops.npy`` is a dict).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import InputError
from ._common import one_line

#: (module, name) pairs the unpickler may import.
ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
})
# numpy dtype classes (numpy.dtypes.Float64DType, ...) appear in pickles of numpy >= 1.25.
_DTYPE_MODULE = "numpy.dtypes"


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED_GLOBALS`."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that imports only what numpy arrays and plain containers need."""

    def find_class(self, module, name):
        if (module, name) in ALLOWED_GLOBALS or (module == _DTYPE_MODULE
                                                 and name.endswith("DType")):
            return super().find_class(module, name)
        raise RefusedGlobal(f"{module}.{name}")


_PLAIN = (str, bytes, int, float, bool, complex, type(None))


def check_plain(obj, where: str, at: str = "", depth: int = 0) -> None:
    """Accept only dicts, lists, tuples, plain scalars and numeric numpy arrays/scalars.

    The unpickler already refused every foreign class; this walk also refuses object
    arrays (which could hide other admitted values where numbers were expected).
    """
    if depth > 50:
        raise InputError(f"{where}: pickle nests containers deeper than 50 levels")
    if isinstance(obj, _PLAIN):
        return
    if isinstance(obj, np.ndarray | np.generic):
        if obj.dtype.hasobject:
            raise InputError(f"{where}: pickle holds an object array at {at or 'top level'}; "
                             "only numeric arrays are accepted")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            check_plain(key, where, at, depth + 1)
            check_plain(value, where, f"{at}[{key!r}]", depth + 1)
        return
    if isinstance(obj, list | tuple | set | frozenset):
        for i, value in enumerate(obj):
            check_plain(value, where, f"{at}[{i}]", depth + 1)
        return
    raise InputError(f"{where}: pickle holds a {type(obj).__name__} at {at or 'top level'}; "
                     "only numpy arrays and plain containers are accepted")


def load(path: str | Path):
    """Read a pickle file: numpy arrays and plain containers only (see :func:`check_plain`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    obj = loads(data, where=str(path))
    check_plain(obj, str(path))
    return obj


def loads(data: bytes, *, where: str = "pickle"):
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; one-line InputError on refusal."""
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except RefusedGlobal as e:
        raise InputError(f"{where}: refused to unpickle {e} (only numpy arrays and plain "
                         "containers are loaded from pickles)") from None
    except Exception as e:  # a corrupt pickle raises many types
        raise InputError(f"{where}: not a readable pickle ({one_line(e)})") from None


def load_npy(path: Path):
    """A ``.npy`` file; object arrays through :class:`RestrictedUnpickler`.

    A 0-d object array (``np.save`` of a dict, as suite2p's ``ops.npy``) is returned as the
    object it holds.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            if not dtype.hasobject:
                fh.seek(0)
                return np.load(fh, allow_pickle=False)
            payload = fh.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:
        raise InputError(f"{path}: not a .npy file ({one_line(e)})") from None
    arr = loads(payload, where=str(path))
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: the pickle holds a {type(arr).__name__}, not an array")
    obj = arr.item() if arr.shape == () else arr
    check_plain(obj if arr.shape == () else list(arr.flat), str(path))
    return obj
