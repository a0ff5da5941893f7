"""Pipeline steps: one module per step, one runner for all of them.

Each module of this package (but :mod:`.contract` and :mod:`.runner`) declares one
``STEP`` (:class:`~neurodag.steps.contract.Step`): its name (the module's, with dashes),
its input and output roles with their file kinds, its options (declared once, typed, with
defaults and docs: :mod:`neurodag.options`) and ``compute``. :func:`run` runs any of them;
the command line (``neurodag STEP``) and the config schema's step sections are generated
from the declarations. See CONTRIBUTING.md for adding a step.

>>> from neurodag import steps
>>> steps.names()
>>> steps.run("preprocess", inputs={"raw": "raw.zarr"},
...           outputs={"clean": "clean.zarr", "qc": "qc.json"}, options={"bandpass": [1, 30]})
"""

from __future__ import annotations

import pkgutil
from functools import cache
from importlib import import_module

from .contract import Arg, Input, Output, Step, Variants
from .runner import run

#: Modules of this package that are not steps.
NOT_STEPS = ("contract", "runner")


@cache
def modules() -> dict[str, str]:
    """``{step name: module name}`` of every step module, without importing them."""
    return {m.name.replace("_", "-"): f"{__name__}.{m.name}"
            for m in pkgutil.iter_modules(__path__) if m.name not in NOT_STEPS}


def names() -> list[str]:
    """The registered step names."""
    return sorted(modules())


def get(name: str) -> Step:
    """The step called ``name`` (its module is imported now)."""
    from ..errors import InputError, suggest

    if name not in modules():
        raise InputError(f"no step {name!r}{suggest(name, modules())} (steps: "
                         f"{', '.join(names())})")
    return import_module(modules()[name]).STEP


def registry() -> dict[str, Step]:
    """Every step, by name (imports every step module)."""
    return {name: get(name) for name in names()}


__all__ = ["Arg", "Input", "Output", "Step", "Variants", "get", "modules", "names",
           "registry", "run"]
