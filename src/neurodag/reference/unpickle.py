"""A restricted unpickler: numpy arrays, dtypes and plain containers, nothing else.

A pickle is a program: loading one with :func:`pickle.load` can run any callable it
names. Reference data shipped as pickles (spkit's EEG samples) are loaded only through
:func:`load`, whose unpickler resolves exactly the globals numpy needs to rebuild an
array (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``) and refuses every other
one with a one-line :class:`~neurodag.errors.InputError` before anything is called.
The result is then walked: only dicts, lists, tuples, strings, numbers, bytes, None
and numeric (non-object) numpy arrays or scalars are accepted.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
from numpy._core import multiarray as _multiarray

from ..errors import InputError

# numpy 1.x pickles name ``numpy.core.multiarray``; numpy 2 moved it to ``numpy._core``.
_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
_ALLOWED = {
    **{(m, "_reconstruct"): _multiarray._reconstruct for m in _MULTIARRAY},
    **{(m, "scalar"): _multiarray.scalar for m in _MULTIARRAY},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
_PLAIN = (str, bytes, int, float, bool, complex, type(None))


class _Refused(Exception):
    pass


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid):
        raise _Refused(f"persistent id {pid!r}")


def _check(obj, path: Path, where: str = "", depth: int = 0) -> None:
    if depth > 50:
        raise InputError(f"{path}: pickle nests containers deeper than 50 levels")
    if isinstance(obj, _PLAIN):
        return
    if isinstance(obj, np.ndarray | np.generic):
        if obj.dtype.hasobject:
            raise InputError(f"{path}: pickle holds an object array at {where or 'top level'}; "
                             "only numeric arrays are accepted")
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            _check(key, path, where, depth + 1)
            _check(value, path, f"{where}[{key!r}]", depth + 1)
        return
    if isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            _check(value, path, f"{where}[{i}]", depth + 1)
        return
    raise InputError(f"{path}: pickle holds a {type(obj).__name__} at {where or 'top level'}; "
                     "only numpy arrays and plain containers are accepted")


def loads(data: bytes, path: str | Path = "<bytes>"):
    """Unpickle ``data`` admitting only numpy arrays/dtypes and plain containers.

    Parameters
    ----------
    data : bytes
        The pickle stream.
    path : str or Path
        Name used in error messages.

    Returns
    -------
    object
        Nested dicts/lists/tuples of str, numbers, bytes, None and numeric numpy arrays.

    Raises
    ------
    InputError
        One line naming ``path`` and the refused global, or the stream's defect.
    """
    path = Path(path)
    try:
        obj = _Unpickler(io.BytesIO(data)).load()
    except _Refused as e:
        raise InputError(f"{path}: refused to unpickle {e}: only numpy arrays and plain "
                         "containers are allowed") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OverflowError, MemoryError) as e:
        text = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"{path}: not a readable pickle ({type(e).__name__}: {text[:150]})") \
            from None
    _check(obj, path)
    return obj


def load(path: str | Path):
    """Read ``path`` and unpickle it with :func:`loads` (restricted to numpy and containers)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    return loads(data, path)
