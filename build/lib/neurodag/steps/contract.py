"""What a step declares: its name, input and output roles (each with its file kind), its
options and ``compute``; :mod:`neurodag.steps.runner` does the rest.

A step module defines one ``STEP = Step(...)``. File kinds (:data:`KINDS`) say how the runner
reads an input and writes an output that ``compute`` returns in memory:

==============  =========================================================================
``signal``      a contract store (``*.zarr``, :func:`neurodag.store.read_signal`)
``dataset``     any xarray zarr store (stacks, merged connectomes)
``connectome``  one connectome annotation (``*.zarr``, :mod:`neurodag.connectome`)
``netcdf``      an xarray netCDF file (model fits)
``json``        a JSON object, or a :class:`~neurodag.records.Record`
``nwb``         an NWB file (written by the step itself)
``html``        a report page (written by the step itself)
``folder``      a folder: the step writes its files, or returns ``{file name: object}``
``files``       recording files or folders as given (read by the step's reader)
==============  =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..options import Options

#: The file kinds of inputs and outputs.
KINDS = ("signal", "dataset", "connectome", "netcdf", "json", "nwb", "html", "folder", "files")


@dataclass(frozen=True)
class Input:
    """An input role.

    ``many``: a list of paths; ``keyed``: paths named by a key (a session id, a product
    kind), given on the command line as ``--in ROLE[KEY]=PATH``.
    """

    kind: str
    doc: str
    many: bool = False
    keyed: bool = False
    optional: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"input kind {self.kind!r} is not one of {KINDS}")


@dataclass(frozen=True)
class Output:
    """An output role; ``name`` is its file name when the command line gives a folder
    (``--out DIR``; from :mod:`neurodag.layout`)."""

    kind: str
    doc: str
    name: str | None = None
    optional: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"output kind {self.kind!r} is not one of {KINDS}")


@dataclass(frozen=True)
class Arg:
    """A positional command-line argument (today's command lines): an input role or an
    option, by name."""

    name: str
    role: str | None = None
    option: str | None = None
    nargs: str | None = None
    metavar: str | None = None
    help: str = ""


@dataclass(frozen=True)
class Variants:
    """Options that depend on one value: an option given with them (``key``), or the
    input's modality (``key="modality"`` with ``from_input``)."""

    key: str
    choices: Mapping[str, type[Options]]
    from_input: str | None = None
    doc: str = ""

    def select(self, value: str, where: str) -> type[Options]:
        from ..errors import ConfigError, suggest

        if value not in self.choices:
            raise ConfigError(f"{where}.{self.key}: {value!r} is not one of "
                              f"{list(self.choices)}{suggest(value, self.choices)}")
        return self.choices[value]


@dataclass(frozen=True)
class Step:
    """One pipeline step.

    Parameters
    ----------
    name : str
        The command (``neurodag NAME``) and the registry key.
    help : str
        One line for ``neurodag --help``.
    inputs, outputs : mapping of str to Input / Output
        The roles, in command-line order.
    options : Options subclass or Variants
        The options declaration.
    compute : callable
        ``compute(inputs, options, ctx) -> {role: object}``: the in-memory outputs (the
        runner writes them by their kind); an output it does not return it must have
        written itself at ``ctx.out[role]`` (streaming steps).
    config : str, optional
        Where the options live in a dataset's config entry (``"analyses.glmhmm"``), or
        at the config's top level with ``config_top``; the config schema's section is
        generated from the declaration.
    config_options : Options subclass or Variants, optional
        The part of the options that comes from config (default: all of them).
    config_defaults : bool
        Write the defaults into the config schema (False when another setting decides
        them, e.g. the denoiser's budget).
    config_top : bool
        ``config`` is a key path of the config's top level.
    modalities : tuple of str
        The modalities a config section applies to (empty: all).
    keeps_source : bool
        Outputs made from one recording keep its ``source``/``source_sha256``.
    args : tuple of Arg
        Positional command-line arguments.
    adapt : callable, optional
        ``adapt(ns, inputs, outputs, options)``: folds a step's extra, older command-line
        arguments (see ``add_args``) into the roles and options.
    add_args : callable, optional
        ``add_args(parser)``: those extra arguments.
    group : str, optional
        Also a subcommand of ``neurodag GROUP`` (``report-index`` is ``report index``).
    """

    name: str
    help: str
    inputs: Mapping[str, Input]
    outputs: Mapping[str, Output]
    options: type[Options] | Variants
    compute: Callable
    config: str | None = None
    config_options: type[Options] | Variants | None = None
    config_defaults: bool = True
    config_top: bool = False
    modalities: tuple[str, ...] = ()
    keeps_source: bool = False
    args: tuple[Arg, ...] = ()
    adapt: Callable | None = None
    add_args: Callable | None = None
    group: str | None = None

    def option_classes(self) -> dict[str, type[Options]]:
        """``{variant: Options class}`` (one entry ``""`` without variants)."""
        if isinstance(self.options, Variants):
            return dict(self.options.choices)
        return {"": self.options}

    def folder_outputs(self, folder: str | Path) -> dict[str, Path]:
        """Outputs in one folder (``--out DIR``): each role at its declared name, or the
        folder itself for a step with one output and no name."""
        folder = Path(folder)
        if len(self.outputs) == 1:
            (role, out), = self.outputs.items()
            return {role: folder / out.name if out.name else folder}
        missing = [r for r, o in self.outputs.items() if not o.name and not o.optional]
        if missing:
            raise ValueError(f"{self.name}: output {missing[0]} has no name for --out DIR")
        return {r: folder / o.name for r, o in self.outputs.items() if o.name}


def key_paths(inputs: dict, role: str, key) -> None:
    """Old command lines give a keyed role as a list of paths: key each by ``key(path)``."""
    found = inputs.get(role)
    if isinstance(found, list):
        inputs[role] = {key(Path(p)): p for p in found}
